//! Reads. `read_all` and `head` only look below the transaction watermark:
//! identities are assigned before commit, so a row with a lower position can
//! become visible after a higher one. Rows whose transaction id is below the
//! oldest running transaction (`pg_snapshot_xmin`) can no longer gain a
//! neighbour in front of them, and ordering by (transaction id, position)
//! makes a checkpoint of that pair safe.

use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::{
    AppendResult, EventMetadata, IdempotencyRecord, Position, RawEvent, RecordedEvent, StoreError,
    StreamId,
};

/// The columns `to_event` reads, as a literal so queries stay `&'static str`.
macro_rules! event_columns {
    () => {
        "global_position, transaction_id::text AS txid, stream_id, stream_version, \
         event_id, event_type, schema_version, payload, metadata, recorded_at"
    };
}

pub(super) async fn read_stream(
    pool: &PgPool,
    stream: &StreamId,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE stream_id = $1 ORDER BY stream_version"
    ))
    .bind(stream.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter().map(to_event).collect()
}

pub(super) async fn read_all(
    pool: &PgPool,
    after: Position,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events \
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id, global_position \
         LIMIT $3"
    ))
    .bind(after.major().to_string())
    .bind(i64::try_from(after.minor()).unwrap_or(i64::MAX))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    rows.iter().map(to_event).collect()
}

pub(super) async fn head(pool: &PgPool) -> Result<Position, StoreError> {
    let row = sqlx::query(
        "SELECT transaction_id::text AS txid, global_position FROM events \
         WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => position(&row),
        None => Ok(Position::START),
    }
}

/// The events `read_all` would return after `after`, counted up to `limit`
/// (the inner `LIMIT` stops the scan there).
pub(super) async fn count_after(
    pool: &PgPool,
    after: Position,
    limit: u64,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM events \
             WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
               AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
             LIMIT $3) AS readable",
    )
    .bind(after.major().to_string())
    .bind(i64::try_from(after.minor()).unwrap_or(i64::MAX))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_one(pool)
    .await?;
    to_u64(n)
}

/// The age of the oldest transaction in the cluster holding an xid
/// (read-only ones do not hold the watermark back). Other roles' sessions
/// count only if the role may see them (superuser or `pg_read_all_stats`).
pub(super) async fn watermark_age(pool: &PgPool) -> Result<Duration, StoreError> {
    let secs: f64 = sqlx::query_scalar(
        "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(xact_start)), 0)::float8 \
         FROM pg_stat_activity WHERE backend_xid IS NOT NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(Duration::from_secs_f64(secs.max(0.0)))
}

pub(super) async fn find_idempotency(
    pool: &PgPool,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let rows = find_idempotency_keys(pool, &[key.to_owned()]).await?;
    Ok(rows.into_iter().next())
}

/// The live (unexpired) records of `keys`.
pub(super) async fn find_idempotency_keys<'e, E>(
    executor: E,
    keys: &[String],
) -> Result<Vec<IdempotencyRecord>, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query(
        "SELECT key, request_hash, response, stream_id, stream_version, position \
         FROM idempotency_keys WHERE key = ANY($1) AND expires_at > now()",
    )
    .bind(keys)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let position: String = row.try_get("position")?;
            let stream: String = row.try_get("stream_id")?;
            Ok(IdempotencyRecord {
                key: row.try_get("key")?,
                request_hash: row.try_get("request_hash")?,
                response: row.try_get("response")?,
                stream_id: StreamId::new(stream).map_err(corrupt)?,
                result: AppendResult {
                    stream_version: to_u64(row.try_get("stream_version")?)?,
                    position: position.parse().map_err(corrupt)?,
                },
            })
        })
        .collect()
}

/// `(transaction_id, global_position)` of a row selected as `txid`, `global_position`.
pub(super) fn position(row: &PgRow) -> Result<Position, StoreError> {
    let txid: String = row.try_get("txid")?;
    let gp: i64 = row.try_get("global_position")?;
    Ok(Position::new(txid.parse().map_err(corrupt)?, to_u64(gp)?))
}

fn to_event(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let stream: String = row.try_get("stream_id")?;
    let schema_version: i32 = row.try_get("schema_version")?;
    let metadata: serde_json::Value = row.try_get("metadata")?;
    Ok(RecordedEvent {
        position: position(row)?,
        stream_id: StreamId::new(stream).map_err(corrupt)?,
        stream_version: to_u64(row.try_get("stream_version")?)?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(schema_version).map_err(corrupt)?,
        payload: row.try_get("payload")?,
        metadata: serde_json::from_value::<EventMetadata>(metadata).map_err(corrupt)?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

pub(super) fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(corrupt)
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The lean columns of a [`RawEvent`], as a literal so queries stay static.
macro_rules! raw_columns {
    () => {
        "global_position, transaction_id::text AS txid, stream_id, stream_version, \
         event_type, schema_version, payload::text AS payload"
    };
}

/// [`EventStore::read_all`](crate::EventStore::read_all)'s order and
/// watermark, returning [`RawEvent`]s: about half the work per event.
/// Callers use [`EventStore::read_all_raw`](crate::EventStore::read_all_raw).
pub(crate) async fn read_all_raw(
    pool: &PgPool,
    after: Position,
    limit: usize,
) -> Result<Vec<RawEvent>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        raw_columns!(),
        " FROM events \
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id, global_position \
         LIMIT $3"
    ))
    .bind(after.major().to_string())
    .bind(to_i64(after.minor()))
    .bind(to_i64(limit as u64))
    .fetch_all(pool)
    .await?;
    rows.iter().map(to_raw).collect()
}

/// [`read_all_raw`] bounded above by `until` (inclusive): the range reads
/// of [`EventStore::read_range_raw`](crate::EventStore::read_range_raw).
pub(crate) async fn read_range_raw(
    pool: &PgPool,
    after: Position,
    until: Position,
    limit: usize,
) -> Result<Vec<RawEvent>, StoreError> {
    if until <= after {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(concat!(
        "SELECT ",
        raw_columns!(),
        " FROM events \
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
           AND (transaction_id, global_position) <= ($3::text::xid8, $4) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id, global_position \
         LIMIT $5"
    ))
    .bind(after.major().to_string())
    .bind(to_i64(after.minor()))
    .bind(until.major().to_string())
    .bind(to_i64(until.minor()))
    .bind(to_i64(limit as u64))
    .fetch_all(pool)
    .await?;
    rows.iter().map(to_raw).collect()
}

/// Cuts for [`EventStore::split_range`](crate::EventStore::split_range).
/// Global positions come from one sequence and commit order follows them
/// closely, so evenly spaced global positions (found by primary key, one
/// probe per cut) cut the commit order into ranges of about even size
/// without scanning it. The probes span the whole log (a range's own ends
/// may be far apart in global positions, e.g. after a long transaction);
/// the cuts kept are those inside the range, in commit order.
pub(crate) async fn split_range(
    pool: &PgPool,
    after: Position,
    until: Position,
    events_per_range: usize,
) -> Result<Vec<Position>, StoreError> {
    // Enough for a billion events in ranges of 10 000.
    const MOST_PROBES: i64 = 100_000;
    if until <= after {
        return Ok(Vec::new());
    }
    let (lo, hi): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(global_position), max(global_position) FROM events")
            .fetch_one(pool)
            .await?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(Vec::new());
    };
    let parts = ((hi - lo) / to_i64(events_per_range.max(1) as u64)).min(MOST_PROBES);
    if parts < 2 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT e.txid, e.global_position FROM generate_series(1, $3 - 1) AS i, \
         LATERAL (SELECT transaction_id::text AS txid, global_position FROM events \
                  WHERE global_position >= $1 + ($2 - $1) * i / $3 \
                  ORDER BY global_position LIMIT 1) AS e",
    )
    .bind(lo)
    .bind(hi)
    .bind(parts)
    .fetch_all(pool)
    .await?;
    let mut cuts = rows.iter().map(position).collect::<Result<Vec<_>, _>>()?;
    cuts.retain(|p| after < *p && *p < until);
    cuts.sort_unstable();
    cuts.dedup();
    Ok(cuts)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_raw(row: &PgRow) -> Result<RawEvent, StoreError> {
    let schema_version: i32 = row.try_get("schema_version")?;
    Ok(RawEvent {
        position: position(row)?,
        stream_id: row.try_get("stream_id")?,
        stream_version: to_u64(row.try_get("stream_version")?)?,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(schema_version).map_err(corrupt)?,
        payload: row.try_get("payload")?,
    })
}
