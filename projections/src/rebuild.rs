//! Rebuild by replay: fold the whole store into fresh tables in a schema of
//! their own, then swap them in within one transaction. Readers use the old
//! tables until that commit.
//!
//! The rebuild keeps every fold's state in memory (tables start empty, so
//! nothing needs loading). Its first write loads everything folded so far
//! with COPY, every fold at once on a connection of its own; only a store
//! bigger than `rebuild_flush_events` needs later writes, which are
//! multi-row upserts. The store cuts what it holds into ranges, which are
//! read `rebuild_read_parallel` at once and decoded on blocking threads
//! while this task folds, in the store's order.
//!
//! No transaction runs long: the store's watermark is cluster-wide, so one
//! long transaction in the read database would stall the relay, every
//! projector and read-your-writes. Writes into the fresh tables commit in
//! chunks of `rebuild_chunk_rows` on connections of their own (autocommit),
//! each secondary index is built after the load in a statement of its own
//! (one index at a time), what arrived during the
//! rebuild is caught up outside any transaction, and the swap transaction
//! only folds the last few events and moves the tables.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Within the read: seconds the concurrent range reads spent fetching
    /// from the store and decoding, summed over them (they overlap each
    /// other and the folding, so they can exceed `read_wait_seconds`).
    pub fetch_seconds: f64,
    pub decode_seconds: f64,
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
    let mut raw = source.read_all_raw(after, batch).await?;
    let read = raw.len();
    cut_at(&mut raw, limit);
    let end = read < batch || raw.len() < read;
    Ok((raw, end))
}

/// Drops the events at or after `limit` (a poison event's position).
fn cut_at(raw: &mut Vec<RawEvent>, limit: Option<Position>) {
    if let Some(limit) = limit {
        raw.truncate(raw.partition_point(|e| e.position < limit));
    }
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

/// Time the reader spent, summed over its concurrent reads: fetching
/// from the store and decoding (on blocking threads). Both overlap each
/// other and the folds, so they explain `read_wait` rather than add to it.
#[derive(Debug, Default)]
struct ReadSpans {
    fetch_micros: AtomicU64,
    decode_micros: AtomicU64,
}

impl ReadSpans {
    fn add(counter: &AtomicU64, since: Instant) {
        let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        counter.fetch_add(micros, Ordering::Relaxed);
    }

    fn seconds(counter: &AtomicU64) -> f64 {
        counter.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// Reads everything up to the store's head (as the rebuild starts) in the
/// ranges the store cuts it into, `parallel` ranges at once, each page
/// decoded on a blocking thread: the store's reads, decoding and folding
/// (the caller) all run at once. Chunks arrive in the store's order.
fn spawn_reader(
    source: Source,
    batch: usize,
    limit: Option<Position>,
    names: String,
    parallel: usize,
    spans: Arc<ReadSpans>,
) -> tokio::sync::mpsc::Receiver<Result<Chunk, ProjectionError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(parallel.max(2));
    tokio::spawn(async move {
        let ranges = Ranges {
            source,
            batch,
            limit,
            names,
            spans,
        };
        if let Err(e) = ranges.read(parallel, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// What every range read of one rebuild shares.
#[derive(Clone)]
struct Ranges {
    source: Source,
    batch: usize,
    limit: Option<Position>,
    names: String,
    spans: Arc<ReadSpans>,
}

type ChunkTx = tokio::sync::mpsc::Sender<Result<Chunk, ProjectionError>>;

impl Ranges {
    async fn read(&self, parallel: usize, tx: &ChunkTx) -> Result<(), ProjectionError> {
        // Everything up to the head is final: ranges below it can be read
        // at once. What arrives later is the catch-up's.
        let until = self.source.head().await?;
        let cuts = self
            .source
            .split_range(Position::START, until, self.batch)
            .await?;
        let mut bounds = Vec::with_capacity(cuts.len() + 1);
        let mut after = Position::START;
        for cut in cuts.into_iter().chain(std::iter::once(until)) {
            // Past a poison event there is nothing to read.
            if self.limit.is_none_or(|l| after < l) {
                bounds.push((after, cut));
            }
            after = cut;
        }
        // Ranges start in order, each reading into a small channel of its
        // own (and waiting once it is full); at most `parallel` wait to be
        // forwarded, which bounds both the reads at once and the memory.
        let (ranges_tx, mut ranges_rx) = tokio::sync::mpsc::channel(parallel.max(1));
        let this = self.clone();
        tokio::spawn(async move {
            for (after, until) in bounds {
                let (tx, rx) = tokio::sync::mpsc::channel(2);
                if ranges_tx.send(rx).await.is_err() {
                    return;
                }
                tokio::spawn(this.clone().range(after, until, tx));
            }
        });
        while let Some(mut range) = ranges_rx.recv().await {
            while let Some(chunk) = range.recv().await {
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Reads one range page by page into `tx`.
    async fn range(self, mut after: Position, until: Position, tx: ChunkTx) {
        loop {
            let chunk = self.page(after, until).await;
            let next = match &chunk {
                Ok(Some(c)) if !c.end => Some(c.last),
                _ => None,
            };
            let sent = match chunk {
                Ok(Some(c)) => tx.send(Ok(c)).await.is_ok(),
                Ok(None) => false,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    false
                }
            };
            match next {
                Some(last) if sent => after = last,
                _ => return,
            }
        }
    }

    /// One page of a range, decoded on a blocking thread; `end` when the
    /// range (or the rebuild, at a poison event) ends with it.
    async fn page(
        &self,
        after: Position,
        until: Position,
    ) -> Result<Option<Chunk>, ProjectionError> {
        let t = Instant::now();
        let mut raw = self.source.read_range_raw(after, until, self.batch).await?;
        ReadSpans::add(&self.spans.fetch_micros, t);
        let read = raw.len();
        cut_at(&mut raw, self.limit);
        let end = raw.len() < read || read < self.batch;
        let (names, spans) = (self.names.clone(), Arc::clone(&self.spans));
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let chunk = decode_fetched(&raw, end, &names);
            ReadSpans::add(&spans.decode_micros, t);
            chunk
        })
        .await
        .map_err(|e| ProjectionError::Checkpoint("rebuild".into(), e.to_string()))?
    }
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
        // Secondary indexes come after the first load (see `write_fold`).
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}; \
             SET LOCAL search_path TO {s}; {}",
            def.ddl
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
    let writers = Writers::new(read, &search_path);

    // Read and decode ahead on other tasks while this one folds.
    let spans = Arc::new(ReadSpans::default());
    let mut rx = spawn_reader(
        source.clone(),
        batch,
        limit,
        names.clone(),
        config.rebuild_read_parallel.max(1),
        Arc::clone(&spans),
    );

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
            writers.flush(defs, &mut folds, !written, chunk).await?;
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
    writers.flush(defs, &mut folds, !written, chunk).await?;
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
                writers.flush(defs, &mut folds, false, chunk).await?;
                pending = 0;
            }
            if next.end {
                break;
            }
        }
        writers.flush(defs, &mut folds, false, chunk).await?;
        if read_now < batch {
            break;
        }
    }
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
        fetch_seconds: ReadSpans::seconds(&spans.fetch_micros),
        decode_seconds: ReadSpans::seconds(&spans.decode_micros),
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

/// A rebuild's writes into its fresh tables: every fold at once, each on a
/// thread and connection of its own, in autocommit, so each statement (a
/// COPY chunk, an upsert, an index) commits alone and no transaction runs
/// long. Threads, not tasks: a fold building its rows (CPU, no await for
/// a while) on a shared worker would hold another fold's COPY, and its
/// transaction, open; the kernel shares the cores between threads
/// instead. The tables are nobody's until the swap, so partial writes are
/// harmless (a failed rebuild drops them).
struct Writers {
    options: sqlx::postgres::PgConnectOptions,
    search_path: String,
}

impl Writers {
    fn new(read: &PgPool, search_path: &str) -> Writers {
        Writers {
            options: read.connect_options().as_ref().clone(),
            search_path: search_path.to_owned(),
        }
    }

    /// Writes every fold's pending rows, all folds at once. `first`: the
    /// first write, COPY into the empty tables in chunks of `rows`, then
    /// the tables' secondary indexes.
    async fn flush(
        &self,
        defs: &[&'static ProjectionDef],
        folds: &mut Vec<Box<dyn Fold>>,
        first: bool,
        rows: usize,
    ) -> Result<(), ProjectionError> {
        let jobs: Vec<_> = defs
            .iter()
            .copied()
            .zip(folds.drain(..))
            .map(|(def, mut fold)| {
                let (options, search_path) = (self.options.clone(), self.search_path.clone());
                std::thread::spawn(move || {
                    let result = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| ProjectionError::Checkpoint(def.name.into(), e.to_string()))
                        .and_then(|rt| {
                            rt.block_on(async {
                                let mut conn = PgConnection::connect_with(&options).await?;
                                // Rebuild tables are nobody's durable state
                                // until the swap: no WAL flush wait per commit.
                                sqlx::raw_sql(AssertSqlSafe(format!(
                                    "SET synchronous_commit TO off; SET search_path TO {search_path}"
                                )))
                                .execute(&mut conn)
                                .await?;
                                let written =
                                    write_fold(def, fold.as_mut(), &mut conn, first, rows).await;
                                let _ = conn.close().await;
                                written
                            })
                        });
                    (fold, result)
                })
            })
            .collect();
        let mut failed = None;
        for job in jobs {
            let (fold, result) = tokio::task::spawn_blocking(move || job.join())
                .await
                .map_err(|e| ProjectionError::Checkpoint("rebuild".into(), e.to_string()))?
                .map_err(|_| {
                    ProjectionError::Checkpoint("rebuild".into(), "a writer thread panicked".into())
                })?;
            folds.push(fold);
            if let Err(e) = result {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// One fold's pending rows (see [`Writers::flush`]).
async fn write_fold(
    def: &ProjectionDef,
    fold: &mut dyn Fold,
    conn: &mut PgConnection,
    first: bool,
    rows: usize,
) -> Result<(), ProjectionError> {
    let t = Instant::now();
    if !first {
        fold.flush(conn).await?;
        return Ok(());
    }
    fold.copy_into_empty(conn, rows).await?;
    let copied = t.elapsed().as_secs_f64();
    // Secondary indexes once the rows are in: about twice as fast as
    // keeping them up to date through the load (measured with the 1M-event
    // bench). One statement each, so each index is a short transaction of
    // its own; a multi-statement string would be one for all of them.
    for index in def
        .indexes
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        sqlx::raw_sql(AssertSqlSafe(index.to_owned()))
            .execute(&mut *conn)
            .await?;
    }
    tracing::debug!(
        projection = def.name,
        copy_seconds = copied,
        index_seconds = t.elapsed().as_secs_f64() - copied,
        "rebuild wrote its first load"
    );
    Ok(())
}
