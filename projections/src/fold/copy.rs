//! COPY text format, for a rebuild's first write into empty tables: the
//! cheapest way to load many rows.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Rows in COPY text for one table, sent in chunks of `rows_per_copy`
/// rows as they fill ([`CopyBuf::send_full`]), so a fold holds one chunk of
/// its table in text, not the whole table beside its state.
#[derive(Debug)]
pub(crate) struct CopyBuf {
    buf: String,
    row_started: bool,
    /// Rows in `buf`, not sent yet.
    rows: usize,
    /// Rows and bytes sent so far, and the time it took.
    sent_rows: usize,
    sent_bytes: usize,
    sending: std::time::Duration,
    /// A `COPY … FROM STDIN`.
    statement: &'static str,
    rows_per_copy: usize,
}

impl CopyBuf {
    pub fn new(statement: &'static str, rows_per_copy: usize) -> CopyBuf {
        CopyBuf {
            buf: String::new(),
            row_started: false,
            rows: 0,
            sent_rows: 0,
            sent_bytes: 0,
            sending: std::time::Duration::ZERO,
            statement,
            rows_per_copy: rows_per_copy.max(1),
        }
    }

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

    /// Sends the buffered rows as one COPY statement once there are
    /// `rows_per_copy` of them; call after each row. On an autocommit
    /// connection each statement is its own short transaction: a
    /// transaction holding an xid holds back the store's watermark, which
    /// is cluster-wide, so one long COPY in the read database would stall
    /// the relay and every reader.
    pub async fn send_full(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.rows >= self.rows_per_copy {
            self.send_buffered(conn).await?;
        }
        Ok(())
    }

    /// Sends the rows left, and logs what the table took.
    pub async fn finish(mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.send_buffered(conn).await?;
        if self.sent_rows > 0 {
            tracing::debug!(
                rows = self.sent_rows,
                bytes = self.sent_bytes,
                seconds = self.sending.as_secs_f64(),
                table = self.statement.split_whitespace().nth(1).unwrap_or(""),
                "rebuild COPY"
            );
        }
        Ok(())
    }

    async fn send_buffered(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.rows == 0 {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let mut copy = conn.copy_in_raw(self.statement).await?;
        copy.send(self.buf.as_bytes()).await?;
        copy.finish().await?;
        self.sending += t.elapsed();
        self.sent_rows += self.rows;
        self.sent_bytes += self.buf.len();
        self.rows = 0;
        self.buf.clear();
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
        let mut b = CopyBuf::new("COPY t FROM STDIN", 10);
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
