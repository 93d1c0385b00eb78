//! Rebuild by replay: fold the whole store into fresh tables in a schema of
//! their own, then swap them in within one transaction. Readers use the old
//! tables until that commit.
//!
//! The rebuild keeps every fold's state in memory (tables start empty, so
//! nothing needs loading). Its first write loads everything folded so far
//! with COPY; only a store bigger than `rebuild_flush_events` needs later
//! writes, which are multi-row upserts. A reader task fetches and decodes
//! the next batch while this one folds.
//!
//! No transaction runs long: the store's watermark is cluster-wide, so one
//! long transaction in the read database would stall the relay, every
//! projector and read-your-writes. Writes into the fresh tables commit in
//! chunks of `rebuild_chunk_rows` on connections of their own (autocommit),
//! the indexes are made with the (empty) tables, what arrived during the
//! rebuild is caught up outside any transaction, and the swap transaction
//! only folds the last few events and moves the tables.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orderflow_event_store::{EventStore, Position, RawEvent};
use orderflow_subscriptions::checkpoint;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use crate::decode::{Batch, decode_raw_any};
use crate::error::ProjectionError;
use crate::fold::{Fold, PROJECTIONS, ProjectionDef, projection};

/// Progress reported after every batch read.
#[derive(Debug, Clone)]
pub struct RebuildProgress {
    pub events: u64,
    /// Events in the store when the rebuild started (for an ETA), if known.
    pub total_events: Option<u64>,
    pub position: Position,
    pub elapsed: Duration,
    pub events_per_sec: f64,
}

/// What a finished rebuild did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RebuildReport {
    pub projections: Vec<String>,
    pub events: u64,
    pub position: Position,
    pub seconds: f64,
    pub events_per_sec: f64,
    /// Set when a poison event cut the rebuild short: the tables were built
    /// up to the event before it, and the live projector dead-letters it.
    pub stopped_before: Option<String>,
    /// Seconds waiting for store reads, folding in memory, writing rows
    /// (and indexes), and swapping; they add up to about `seconds`.
    pub read_wait_seconds: f64,
    pub fold_seconds: f64,
    pub write_seconds: f64,
    pub swap_seconds: f64,
}

fn schema(def: &ProjectionDef) -> String {
    format!("rebuild_{}", def.name)
}

/// Resolves `NAME` or `"--all"`/`"all"` to projection definitions.
pub fn select(name_or_all: &str) -> Result<Vec<&'static ProjectionDef>, ProjectionError> {
    if matches!(name_or_all, "all" | "--all" | "*") {
        return Ok(PROJECTIONS.iter().collect());
    }
    projection(name_or_all)
        .map(|p| vec![p])
        .ok_or_else(|| ProjectionError::UnknownProjection(name_or_all.to_owned()))
}

/// Holds `orderflow-rebuild:<name>` advisory locks so two rebuilds of one
/// projection never share a schema. Released when the connection closes.
async fn lock_rebuilds(
    pool: &PgPool,
    defs: &[&'static ProjectionDef],
) -> Result<PgConnection, ProjectionError> {
    let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
    for def in defs {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(format!("orderflow-rebuild:{}", def.name))
            .fetch_one(&mut conn)
            .await?;
        if !got {
            return Err(ProjectionError::Checkpoint(
                def.name.into(),
                "another rebuild of this projection is running".into(),
            ));
        }
    }
    Ok(conn)
}

/// Where a rebuild reads: the store, through its trait.
pub(crate) type Source = Arc<dyn EventStore>;

/// The events in the store when the rebuild started, once known: counted
/// beside the rebuild (Postgres counts rows at once; a store that reads to
/// count must not hold the rebuild up).
pub(crate) type Total = Arc<std::sync::OnceLock<u64>>;

/// Counts the store's events on a task of its own into a [`Total`].
pub(crate) fn count_in_background(store: &Source) -> Total {
    let total = Total::default();
    let (store, into) = (Arc::clone(store), Arc::clone(&total));
    tokio::spawn(async move {
        if let Ok(n) = store.count_after(Position::START, u64::MAX).await {
            let _ = into.set(n);
        }
    });
    total
}

/// One read batch, decoded.
struct Chunk {
    decoded: Batch,
    events: usize,
    last: Position,
    /// No more to read now (short batch, or the limit reached).
    end: bool,
}

/// Reads the events after `after`, cut before `limit`; `end` when there is
/// nothing more to read now. Raw events: Postgres reads lean rows, and
/// payloads parse straight into their types.
async fn fetch(
    source: &Source,
    after: Position,
    batch: usize,
    limit: Option<Position>,
) -> Result<(Vec<RawEvent>, bool), ProjectionError> {
    let below = |p: Position| limit.is_none_or(|l| p < l);
    let mut raw = source.read_all_raw(after, batch).await?;
    let read = raw.len();
    raw.truncate(raw.partition_point(|e| below(e.position)));
    let end = read < batch || raw.len() < read;
    Ok((raw, end))
}

/// Decodes a fetched batch; a poison event fails it with its position.
fn decode_fetched(
    raw: &[RawEvent],
    end: bool,
    names: &str,
) -> Result<Option<Chunk>, ProjectionError> {
    let mut decoded = Batch::default();
    decoded.orders.reserve(raw.len());
    for e in raw {
        let d = decode_raw_any(e).map_err(|err| ProjectionError::Poison {
            projection: names.to_owned(),
            position: e.position,
            message: err.0,
        })?;
        if let Some(d) = d {
            decoded.push(d);
        }
    }
    Ok(raw.last().map(|last| Chunk {
        decoded,
        events: raw.len(),
        last: last.position,
        end,
    }))
}

async fn read_chunk(
    source: &Source,
    after: Position,
    batch: usize,
    limit: Option<Position>,
    names: &str,
) -> Result<Option<Chunk>, ProjectionError> {
    let (fetched, end) = fetch(source, after, batch, limit).await?;
    decode_fetched(&fetched, end, names)
}

/// Fetches on one task and decodes on another, so the database, decoding
/// and folding (the caller) all run at once. Chunks arrive in order.
fn spawn_reader(
    source: Source,
    batch: usize,
    limit: Option<Position>,
    names: String,
) -> tokio::sync::mpsc::Receiver<Result<Chunk, ProjectionError>> {
    let (fetched_tx, mut fetched_rx) =
        tokio::sync::mpsc::channel::<Result<(Vec<RawEvent>, bool), ProjectionError>>(2);
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let mut after = Position::START;
        loop {
            let result = fetch(&source, after, batch, limit).await;
            let stop = match &result {
                Ok((v, end)) => {
                    after = v.last().map_or(after, |e| e.position);
                    *end || v.is_empty()
                }
                Err(_) => true,
            };
            if fetched_tx.send(result).await.is_err() || stop {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(result) = fetched_rx.recv().await {
            let chunk = match result {
                Ok((fetched, end)) => decode_fetched(&fetched, end, &names),
                Err(e) => Err(e),
            };
            let stop = !matches!(chunk, Ok(Some(_)));
            let sent = match chunk {
                Ok(Some(c)) => chunk_tx.send(Ok(c)).await.is_ok(),
                Ok(None) => false,
                Err(e) => chunk_tx.send(Err(e)).await.is_ok(),
            };
            if stop || !sent {
                return;
            }
        }
    });
    chunk_rx
}

/// Rebuilds `defs` from position zero and swaps them in. A poison event
/// restarts the rebuild to stop just before it, so the tables hold exactly
/// the events before it and the live projector deals with it as usual.
pub(crate) async fn rebuild_defs(
    source: &Source,
    read: &PgPool,
    total_events: &Total,
    defs: &[&'static ProjectionDef],
    config: &crate::ProjectorConfig,
    progress: &mut (dyn FnMut(&RebuildProgress) + Send),
) -> Result<RebuildReport, ProjectionError> {
    let _lock = lock_rebuilds(read, defs).await?;
    let mut limit: Option<(Position, String)> = None;
    loop {
        let before = limit.as_ref().map(|(p, _)| *p);
        match rebuild_once(source, read, total_events, defs, config, progress, before).await {
            Err(ProjectionError::Poison {
                position,
                message,
                projection,
            }) if before.is_none_or(|b| position < b) => {
                tracing::warn!(%projection, %position, error = %message,
                    "poison event during rebuild; building up to the event before it");
                limit = Some((position, format!("{position}: {message}")));
            }
            Ok(mut report) => {
                report.stopped_before = limit.map(|(_, m)| m);
                return Ok(report);
            }
            Err(e) => return Err(e),
        }
    }
}

async fn create_tables(
    read: &PgPool,
    defs: &[&'static ProjectionDef],
) -> Result<(), ProjectionError> {
    for def in defs {
        let s = schema(def);
        let mut tx = read.begin().await?;
        // Indexes now, on empty tables: built after the load they would be
        // one long transaction.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}; \
             SET LOCAL search_path TO {s}; {} {}",
            def.ddl, def.indexes
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn rebuild_once(
    source: &Source,
    read: &PgPool,
    total_events: &Total,
    defs: &[&'static ProjectionDef],
    config: &crate::ProjectorConfig,
    progress: &mut (dyn FnMut(&RebuildProgress) + Send),
    limit: Option<Position>,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    create_tables(read, defs).await?;
    let names = defs.iter().map(|d| d.name).collect::<Vec<_>>().join(",");
    let search_path = defs
        .iter()
        .map(|d| schema(d))
        .collect::<Vec<_>>()
        .join(", ");
    let folds: Vec<Box<dyn Fold>> = defs.iter().map(|d| (d.new_fold)()).collect();
    let mut tasks = FoldTasks::spawn(defs, folds);
    let batch = config.rebuild_batch_size.max(1);
    let chunk = config.rebuild_chunk_rows.max(1);
    let mut writers = Writers::open(read, &search_path).await?;

    // Read and decode ahead on other tasks while this one folds.
    let mut rx = spawn_reader(source.clone(), batch, limit, names.clone());

    let mut position = Position::START;
    let mut events_done = 0u64;
    let mut since_flush = 0usize;
    let mut written = false;
    let (mut read_wait, mut fold_time, mut write_time) = (0f64, 0f64, 0f64);
    let mut t = Instant::now();
    while let Some(next) = rx.recv().await {
        read_wait += t.elapsed().as_secs_f64();
        t = Instant::now();
        let next = next?;
        tasks.send(Arc::new(next.decoded)).await?;
        position = next.last;
        events_done += next.events as u64;
        since_flush += next.events;
        fold_time += t.elapsed().as_secs_f64();
        t = Instant::now();
        // After the first (COPY) write, upserts: in chunks, each statement
        // its own transaction.
        let due = if written {
            chunk
        } else {
            config.rebuild_flush_events
        };
        if since_flush >= due {
            let mut folds = tasks.join().await?;
            writers.flush(&mut folds, !written, chunk).await?;
            tasks = FoldTasks::spawn(defs, folds);
            written = true;
            since_flush = 0;
            write_time += t.elapsed().as_secs_f64();
        }
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        progress(&RebuildProgress {
            events: events_done,
            total_events: total_events.get().copied(),
            position,
            elapsed: started.elapsed(),
            events_per_sec: events_done as f64 / secs,
        });
        t = Instant::now();
    }
    let mut folds = tasks.join().await?;
    fold_time += t.elapsed().as_secs_f64();
    t = Instant::now();
    writers.flush(&mut folds, !written, chunk).await?;
    // What arrived meanwhile, outside any transaction, until a pass finds
    // less than a batch: the swap then has only that little left to fold.
    loop {
        let mut read_now = 0usize;
        let mut pending = 0usize;
        while let Some(next) = read_chunk(source, position, batch, limit, &names).await? {
            position = next.last;
            events_done += next.events as u64;
            read_now += next.events;
            pending += next.events;
            apply_all(defs, &mut folds, &next.decoded)?;
            if pending >= chunk {
                writers.flush(&mut folds, false, chunk).await?;
                pending = 0;
            }
            if next.end {
                break;
            }
        }
        writers.flush(&mut folds, false, chunk).await?;
        if read_now < batch {
            break;
        }
    }
    writers.close().await;
    write_time += t.elapsed().as_secs_f64();
    t = Instant::now();

    // Swap: lock the checkpoints (the live projector writes under the same
    // row locks), fold whatever arrived meanwhile, move the tables.
    let mut tx = read.begin().await?;
    for def in defs {
        checkpoint::claim(&mut tx, def.name, def.version).await?;
    }
    sqlx::query(AssertSqlSafe(format!(
        "SET LOCAL search_path TO {search_path}"
    )))
    .execute(&mut *tx)
    .await?;
    while let Some(chunk) = read_chunk(source, position, batch, limit, &names).await? {
        position = chunk.last;
        events_done += chunk.events as u64;
        apply_all(defs, &mut folds, &chunk.decoded)?;
        for fold in &mut folds {
            fold.flush(&mut tx).await?;
        }
        if chunk.end {
            break;
        }
    }
    for def in defs {
        let s = schema(def);
        let mut sql = String::new();
        for t in def.tables {
            sql.push_str(&format!(
                "DROP TABLE IF EXISTS public.{t}; ALTER TABLE {s}.{t} SET SCHEMA public; "
            ));
        }
        sql.push_str(&format!("DROP SCHEMA {s};"));
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await?;
        checkpoint::restart(&mut tx, def.name, def.version, position).await?;
    }
    tx.commit().await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(RebuildReport {
        projections: defs.iter().map(|d| d.name.to_owned()).collect(),
        events: events_done,
        position,
        seconds,
        events_per_sec: events_done as f64 / seconds.max(1e-9),
        stopped_before: None,
        read_wait_seconds: read_wait,
        fold_seconds: fold_time,
        write_seconds: write_time,
        swap_seconds: t.elapsed().as_secs_f64(),
    })
}

/// Each fold on a task of its own, all fed the same decoded batches, so the
/// folds of a `--all` rebuild use every core. `join` hands them back.
struct FoldTasks {
    senders: Vec<tokio::sync::mpsc::Sender<Arc<Batch>>>,
    handles: Vec<tokio::task::JoinHandle<Result<Box<dyn Fold>, ProjectionError>>>,
}

impl FoldTasks {
    fn spawn(defs: &[&'static ProjectionDef], folds: Vec<Box<dyn Fold>>) -> FoldTasks {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for (def, mut fold) in defs.iter().copied().zip(folds) {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Arc<Batch>>(4);
            senders.push(tx);
            handles.push(tokio::spawn(async move {
                while let Some(batch) = rx.recv().await {
                    apply_all(&[def], std::slice::from_mut(&mut fold), &batch)?;
                }
                Ok(fold)
            }));
        }
        FoldTasks { senders, handles }
    }

    async fn send(&mut self, batch: Arc<Batch>) -> Result<(), ProjectionError> {
        for tx in &self.senders {
            if tx.send(Arc::clone(&batch)).await.is_err() {
                // That fold's task ended early: its error says why.
                return self.join_now().await.map(|_| ());
            }
        }
        Ok(())
    }

    async fn join_now(&mut self) -> Result<Vec<Box<dyn Fold>>, ProjectionError> {
        self.senders.clear();
        let mut folds = Vec::with_capacity(self.handles.len());
        for h in self.handles.drain(..) {
            let fold = h
                .await
                .map_err(|e| ProjectionError::Checkpoint("rebuild".into(), e.to_string()))??;
            folds.push(fold);
        }
        Ok(folds)
    }

    async fn join(mut self) -> Result<Vec<Box<dyn Fold>>, ProjectionError> {
        self.join_now().await
    }
}

/// Folds decoded events into every projection (each fold reads one kind,
/// so the kinds go one after the other).
fn apply_all(
    defs: &[&'static ProjectionDef],
    folds: &mut [Box<dyn Fold>],
    decoded: &Batch,
) -> Result<(), ProjectionError> {
    for (def, fold) in defs.iter().zip(folds.iter_mut()) {
        let poison = |position, err: crate::error::FoldError| ProjectionError::Poison {
            projection: def.name.into(),
            position,
            message: err.0,
        };
        for d in &decoded.orders {
            fold.apply(d).map_err(|err| poison(d.position, err))?;
        }
        for d in &decoded.stock {
            fold.apply_stock(d).map_err(|err| poison(d.position, err))?;
        }
    }
    Ok(())
}

/// A connection of its own for a rebuild's writes into its fresh tables, in
/// autocommit: each statement (a COPY chunk, an upsert) commits alone, so no
/// transaction runs long. The folds write one after the other: run
/// concurrently on one task, one fold building its rows (CPU) would hold
/// another's COPY, and its transaction, open. The tables are nobody's until
/// the swap, so partial writes are harmless (a failed rebuild drops them).
/// Session settings stay on this connection, never in a pool.
struct Writers {
    conn: PgConnection,
}

impl Writers {
    async fn open(read: &PgPool, search_path: &str) -> Result<Writers, ProjectionError> {
        let mut conn = PgConnection::connect_with(&read.connect_options()).await?;
        // Rebuild tables are nobody's durable state until the swap: skip the
        // WAL flush wait on each commit.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SET synchronous_commit TO off; SET search_path TO {search_path}"
        )))
        .execute(&mut conn)
        .await?;
        Ok(Writers { conn })
    }

    /// Writes every fold's pending rows. `empty`: first write, COPY in
    /// chunks of `rows`.
    async fn flush(
        &mut self,
        folds: &mut [Box<dyn Fold>],
        empty: bool,
        rows: usize,
    ) -> Result<(), ProjectionError> {
        for fold in folds {
            if empty {
                fold.copy_into_empty(&mut self.conn, rows).await?;
            } else {
                fold.flush(&mut self.conn).await?;
            }
        }
        Ok(())
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}
