//! Writes and reads on the Postgres store's tables that go around the
//! [`EventStore`](crate::EventStore) trait, for benchmarks and tests only:
//! seeding millions of events without the append path, and making states
//! the append path never makes (streams of several orders committed in one
//! transaction, a transaction that takes positions and then idles, a
//! forgotten relay checkpoint). Nothing here checks expected versions or
//! idempotency keys; the table's constraints still hold. Never for the
//! services: they go through the trait.
//!
//! The helpers keep SQL on `events`, `idempotency_keys` and
//! `relay_checkpoints` inside this crate. Tests that still query those
//! tables directly should switch to them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::{Postgres, Row, Transaction};

use super::PgEventStore;
use super::read::{corrupt, position, to_u64};
use super::write::{EventRows, insert_rows};
use crate::{NewEvent, Position, StoreError, StreamId};

/// One row to insert as it is: the caller picks the stream version.
#[derive(Debug, Clone, PartialEq)]
pub struct UncheckedEvent {
    pub stream_id: StreamId,
    pub stream_version: u64,
    pub event: NewEvent,
}

/// Inserts `events`, in their order, with one statement (so in one
/// transaction: readers see all of them or none). Returns their positions
/// in the same order. Seeds benchmarks; makes "many orders in one
/// transaction" in tests.
pub async fn insert(
    store: &PgEventStore,
    events: &[UncheckedEvent],
) -> Result<Vec<Position>, StoreError> {
    let mut conn = store.pool().acquire().await?;
    insert_on(&mut conn, events).await
}

/// A transaction that has inserted events and stays open until
/// [`commit`](OpenInsert::commit) or [`rollback`](OpenInsert::rollback)
/// (dropping it rolls back). Its events hold positions from the start, so
/// while it is open it holds the store's watermark back; committing it
/// late makes events appear with positions lower than ones already read,
/// which is what tests of tailing readers need.
#[derive(Debug)]
pub struct OpenInsert {
    tx: Transaction<'static, Postgres>,
    positions: Vec<Position>,
}

/// Begins a transaction and inserts `events` in it (see [`OpenInsert`]).
pub async fn begin_insert(
    store: &PgEventStore,
    events: &[UncheckedEvent],
) -> Result<OpenInsert, StoreError> {
    let mut tx = store.pool().begin().await?;
    let positions = insert_on(&mut tx, events).await?;
    Ok(OpenInsert { tx, positions })
}

impl OpenInsert {
    /// The positions the events took, in insert order.
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.tx.rollback().await?)
    }
}

async fn insert_on(
    conn: &mut sqlx::PgConnection,
    events: &[UncheckedEvent],
) -> Result<Vec<Position>, StoreError> {
    let mut rows = EventRows::default();
    for e in events {
        rows.push(&e.stream_id, e.stream_version, &e.event);
    }
    let returned = insert_rows(conn, rows).await?;
    let mut by_id = HashMap::with_capacity(returned.len());
    for row in &returned {
        by_id.insert(row.try_get::<uuid::Uuid, _>("event_id")?, position(row)?);
    }
    events
        .iter()
        .map(|e| {
            by_id
                .get(&e.event.event_id)
                .copied()
                .ok_or_else(|| StoreError::Backend("inserted event missing from RETURNING".into()))
        })
        .collect()
}

/// Committed rows in `events` (of one stream, or all), counted in the
/// table: unlike [`EventStore::count_after`](crate::EventStore::count_after)
/// it does not wait for the watermark, which other tests' transactions on
/// the same cluster may hold back.
pub async fn count_events(
    store: &PgEventStore,
    stream: Option<&StreamId>,
) -> Result<u64, StoreError> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE $1::text IS NULL OR stream_id = $1")
            .bind(stream.map(StreamId::as_str))
            .fetch_one(store.pool())
            .await?;
    to_u64(n)
}

/// Every stream's last version, from the committed rows (watermark ignored).
pub async fn last_versions(store: &PgEventStore) -> Result<HashMap<StreamId, u64>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT stream_id, max(stream_version) FROM events GROUP BY stream_id")
            .fetch_all(store.pool())
            .await?;
    rows.into_iter()
        .map(|(s, v)| Ok((StreamId::new(s).map_err(corrupt)?, to_u64(v)?)))
        .collect()
}

/// The streams holding an event appended under idempotency key `key`
/// (from the events' metadata), sorted.
pub async fn streams_with_idempotency_key(
    store: &PgEventStore,
    key: &str,
) -> Result<Vec<StreamId>, StoreError> {
    let streams: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT stream_id FROM events WHERE metadata->>'idempotency_key' = $1 \
         ORDER BY stream_id",
    )
    .bind(key)
    .fetch_all(store.pool())
    .await?;
    streams
        .into_iter()
        .map(|s| StreamId::new(s).map_err(corrupt))
        .collect()
}

/// How many idempotency keys the store holds, expired ones included (the
/// cleanup's yardstick).
pub async fn count_idempotency_keys(store: &PgEventStore) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(store.pool())
        .await?;
    to_u64(n)
}

/// Deletes every relay checkpoint, so a relay started next publishes the
/// whole log again. Returns how many there were.
pub async fn forget_relay_checkpoints(store: &PgEventStore) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM relay_checkpoints")
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}

/// `bench rebuild`'s yardstick: the database alone doing a rebuild's kind of
/// work, one `INSERT … SELECT … GROUP BY` pass over every event into an
/// unlogged per-order table (`baseline_orders`, replaced). Returns how long
/// the pass took.
pub async fn group_by_baseline(store: &PgEventStore) -> Result<Duration, StoreError> {
    let pool = store.pool();
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS baseline_orders;
         CREATE UNLOGGED TABLE baseline_orders (
             stream_id text PRIMARY KEY, events bigint, last_type text,
             items bigint, paid bigint, last_position bigint, updated_at timestamptz);",
    )
    .execute(pool)
    .await?;
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO baseline_orders \
         SELECT stream_id, count(*), max(event_type), \
                count(*) FILTER (WHERE event_type = 'ItemAdded'), \
                coalesce(sum((payload->'amount'->>'amount_minor')::bigint) \
                         FILTER (WHERE event_type = 'PaymentRecorded'), 0), \
                max(global_position), max(recorded_at) \
         FROM events GROUP BY stream_id",
    )
    .execute(pool)
    .await?;
    Ok(started.elapsed())
}
