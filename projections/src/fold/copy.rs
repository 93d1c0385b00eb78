//! COPY text format, for a rebuild's first write into empty tables: the
//! cheapest way to load many rows.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Default)]
pub(crate) struct CopyBuf {
    buf: String,
    row_started: bool,
    rows: usize,
}

impl CopyBuf {
    fn sep(&mut self) {
        if self.row_started {
            self.buf.push('\t');
        }
        self.row_started = true;
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        // Most values need no escape: copy them whole.
        if !s
            .bytes()
            .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
        {
            self.buf.push_str(s);
            return self;
        }
        for c in s.chars() {
            match c {
                '\\' => self.buf.push_str("\\\\"),
                '\t' => self.buf.push_str("\\t"),
                '\n' => self.buf.push_str("\\n"),
                '\r' => self.buf.push_str("\\r"),
                c => self.buf.push(c),
            }
        }
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.sep();
        self.buf.push_str("\\N");
        self
    }

    pub fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    pub fn int(&mut self, n: i64) -> &mut Self {
        use std::fmt::Write;
        self.sep();
        let _ = write!(self.buf, "{n}");
        self
    }

    /// A `numeric` column's value.
    pub fn big(&mut self, n: i128) -> &mut Self {
        use std::fmt::Write;
        self.sep();
        let _ = write!(self.buf, "{n}");
        self
    }

    pub fn ts(&mut self, t: DateTime<Utc>) -> &mut Self {
        use chrono::{Datelike, Timelike};
        use std::fmt::Write;
        self.sep();
        // Common years written by hand (chrono's formatting allocates);
        // others, BC ones included, in RFC 3339, which Postgres reads too.
        if (1..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000 {
            let _ = write!(
                self.buf,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.timestamp_subsec_micros()
            );
        } else {
            self.buf
                .push_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
        self
    }

    pub fn opt_ts(&mut self, t: Option<DateTime<Utc>>) -> &mut Self {
        match t {
            Some(t) => self.ts(t),
            None => self.null(),
        }
    }

    pub fn uuid(&mut self, id: &Uuid) -> &mut Self {
        self.sep();
        self.buf
            .push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        self
    }

    pub fn date(&mut self, d: NaiveDate) -> &mut Self {
        use chrono::Datelike;
        use std::fmt::Write;
        self.sep();
        if (1..=9999).contains(&d.year()) {
            let _ = write!(self.buf, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
        } else {
            let _ = write!(self.buf, "{}", d.format("%Y-%m-%d"));
        }
        self
    }

    pub fn end_row(&mut self) {
        self.buf.push('\n');
        self.row_started = false;
        self.rows += 1;
    }

    /// Runs `statement` (a `COPY … FROM STDIN`) with the rows, at most
    /// `rows_per_copy` per statement. On an autocommit connection each
    /// statement is its own short transaction: a transaction holding an xid
    /// holds back the store's watermark, which is cluster-wide, so one long
    /// COPY in the read database would stall the relay and every reader.
    pub async fn send(
        self,
        conn: &mut PgConnection,
        statement: &'static str,
        rows_per_copy: usize,
    ) -> Result<(), sqlx::Error> {
        if self.rows == 0 {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let bytes = self.buf.len();
        let per = rows_per_copy.max(1);
        let mut rest = self.buf.as_str();
        while !rest.is_empty() {
            // Rows end with '\n' (escaped inside values), so the end of the
            // `per`-th row is the `per`-th newline.
            let end = rest
                .match_indices('\n')
                .nth(per - 1)
                .map_or(rest.len(), |(i, _)| i + 1);
            let (part, tail) = rest.split_at(end);
            let mut copy = conn.copy_in_raw(statement).await?;
            copy.send(part.as_bytes()).await?;
            copy.finish().await?;
            rest = tail;
        }
        tracing::debug!(
            rows = self.rows,
            bytes,
            seconds = t.elapsed().as_secs_f64(),
            table = statement.split_whitespace().nth(1).unwrap_or(""),
            "rebuild COPY"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_postgres_reads_them() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let mut b = CopyBuf::default();
        b.ts(at("2026-09-01T07:05:03.000042Z"))
            .ts(NaiveDate::from_ymd_opt(-4713, 11, 24)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
                .unwrap_or_default())
            .text("a\tb\\c")
            .text("plain")
            .date(NaiveDate::from_ymd_opt(987, 1, 2).unwrap_or_default())
            .null()
            .end_row();
        assert_eq!(
            b.buf,
            "2026-09-01 07:05:03.000042+00\t-4713-11-24T00:00:00.000000Z\t\
             a\\tb\\\\c\tplain\t0987-01-02\t\\N\n"
        );
        assert_eq!(b.rows, 1);
    }
}
