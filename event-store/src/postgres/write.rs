//! Group commit: each writer task owns a queue of appends. It takes whatever
//! has queued up (at least one, at most `max_batch`) and commits it in one
//! transaction; appends arriving meanwhile form the next batch. A lone append
//! is committed at once, so light load pays no added latency, and heavy load
//! shares one WAL flush among many appends.
//!
//! One append never fails because of another: a batch whose data Postgres
//! refuses is split until the refused append stands alone, and rows are
//! inserted in a canonical order so two processes batching the same streams
//! cannot deadlock each other (a deadlock or serialization failure that
//! still happens is retried like a collision).

use std::collections::HashMap;
use std::time::Instant;

use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::in_doubt::{self, Outcome};
use super::read::{find_idempotency_keys, position};
use crate::append_signal::Commits;
use crate::batch::{self, Plan, StoreView, StoredEvent};
use crate::{AppendRequest, AppendResult, IdempotencyClaim, StoreError, StreamId};

/// Appends waiting per writer before `append` callers are made to wait.
const QUEUE_CAPACITY: usize = 8192;
/// Attempts at one batch that collided with another process's writes.
const MAX_ATTEMPTS: usize = 8;

pub(crate) struct Pending {
    pub request: AppendRequest,
    pub reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("stream", &self.request.stream_id)
            .finish_non_exhaustive()
    }
}

pub(super) fn spawn_writer(
    pool: PgPool,
    max_batch: usize,
    commits: Commits,
) -> mpsc::Sender<Pending> {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    tokio::spawn(run_writer(pool, rx, max_batch, commits));
    tx
}

async fn run_writer(
    pool: PgPool,
    mut rx: mpsc::Receiver<Pending>,
    max_batch: usize,
    commits: Commits,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        // Deferred appends (sharing an id or key with an earlier one in the
        // batch) go again right away, before anything newer.
        while !batch.is_empty() {
            batch = commit_and_reply(&pool, std::mem::take(&mut batch)).await;
            // Readers in this process wake without waiting for the NOTIFY.
            commits.bump();
        }
    }
}

/// Commits one batch, answers every append in it, and returns the deferred.
async fn commit_and_reply(pool: &PgPool, batch: Vec<Pending>) -> Vec<Pending> {
    let started = Instant::now();
    let requests: Vec<&AppendRequest> = batch.iter().map(|p| &p.request).collect();
    let results = commit_isolating(pool, &requests).await;
    metrics::histogram!("orderflow_store_batch_size").record(batch.len() as f64);
    metrics::histogram!("orderflow_store_batch_seconds").record(started.elapsed().as_secs_f64());
    let mut deferred = Vec::new();
    for (pending, result) in batch.into_iter().zip(results) {
        match result {
            Some(result) => {
                // The caller may have given up waiting; nothing to do then.
                let _ = pending.reply.send(result);
            }
            None => deferred.push(pending),
        }
    }
    deferred
}

/// Commits `requests`, in order, as few transactions as possible. When
/// Postgres refuses the data of some append, the refused part is split in
/// halves (first half committed first, so appends to one stream keep their
/// order) until each refused append stands alone and fails with its own
/// [`StoreError::Rejected`]; the others commit. Errors that are not about
/// the data (Postgres down) answer every append of the part that met them.
async fn commit_isolating(pool: &PgPool, requests: &[&AppendRequest]) -> BatchResults {
    let mut results: BatchResults = Vec::with_capacity(requests.len());
    // Parts still to commit, the next one on top.
    let mut parts = vec![requests];
    while let Some(part) = parts.pop() {
        match commit_with_retries(pool, part).await {
            Ok(done) => results.extend(done),
            Err(BatchError::Rejected(reason)) if part.len() > 1 => {
                metrics::counter!("orderflow_store_batch_splits_total").increment(1);
                let (first, second) = part.split_at(part.len() / 2);
                parts.push(second);
                parts.push(first);
                tracing::debug!(%reason, size = part.len(), "batch refused; splitting it");
            }
            Err(BatchError::Rejected(reason)) => {
                metrics::counter!("orderflow_store_appends_rejected_total").increment(1);
                results.push(Some(Err(StoreError::Rejected { reason })));
            }
            Err(BatchError::Store(e)) => results.extend(part.iter().map(|_| Some(Err(e.clone())))),
        }
    }
    results
}

/// Why a part of a batch did not commit, after retries.
enum BatchError {
    /// Postgres refused some append's data; which one is not known yet.
    Rejected(String),
    Store(StoreError),
}

/// One transaction per attempt. The first attempt is optimistic: it assumes
/// no event id or idempotency key exists yet and lets the unique indexes say
/// otherwise; a collision (or a concurrent writer in another process taking
/// the same stream version, or a deadlock with it) rolls back and retries
/// with full look-ups.
async fn commit_with_retries(
    pool: &PgPool,
    requests: &[&AppendRequest],
) -> Result<BatchResults, BatchError> {
    let mut last_error = None;
    for attempt in 0..MAX_ATTEMPTS {
        match commit(pool, requests, attempt > 0).await {
            Ok(results) => return Ok(results),
            Err(CommitError::Collision(msg)) => {
                metrics::counter!("orderflow_store_batch_retries_total").increment(1);
                last_error = Some(msg);
            }
            Err(CommitError::Rejected(msg)) => return Err(BatchError::Rejected(msg)),
            Err(CommitError::Store(e)) => return Err(BatchError::Store(e)),
        }
    }
    Err(BatchError::Store(StoreError::Backend(format!(
        "batch kept colliding with concurrent writers: {}",
        last_error.unwrap_or_default()
    ))))
}

/// The outcome of each request; `None` = deferred to the next batch.
type BatchResults = Vec<Option<Result<AppendResult, StoreError>>>;

/// Why a batch transaction did not commit.
enum CommitError {
    /// A unique index refused a row another transaction wrote first, or
    /// Postgres picked this transaction as the victim of a serialization
    /// failure or deadlock with another writer: retry.
    Collision(String),
    /// The data of some append is refused, and would be on every retry.
    Rejected(String),
    Store(StoreError),
}

impl From<sqlx::Error> for CommitError {
    fn from(e: sqlx::Error) -> Self {
        let code = match &e {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            // A value the driver cannot even encode belongs to one append.
            sqlx::Error::Encode(_) => return CommitError::Rejected(e.to_string()),
            _ => None,
        };
        match code.as_deref() {
            // unique_violation, serialization_failure, deadlock_detected
            Some("23505" | "40001" | "40P01") => CommitError::Collision(e.to_string()),
            // Data exceptions (22: e.g. 22P05, a \u0000 in jsonb), other
            // integrity violations (23) and program limits (54: a value too
            // large): caused by the rows, so by some append of the batch.
            Some(c) if c.starts_with("22") || c.starts_with("23") || c.starts_with("54") => {
                CommitError::Rejected(format!("{e} (SQLSTATE {c})"))
            }
            _ => CommitError::Store(e.into()),
        }
    }
}

impl From<StoreError> for CommitError {
    fn from(e: StoreError) -> Self {
        CommitError::Store(e)
    }
}

async fn commit(
    pool: &PgPool,
    requests: &[&AppendRequest],
    look_up_existing: bool,
) -> Result<BatchResults, CommitError> {
    let mut tx = pool.begin().await?;
    let mut view = StoreView {
        versions: stream_versions(&mut tx, requests).await?,
        ..StoreView::default()
    };
    if look_up_existing {
        view.events = existing_events(&mut tx, requests).await?;
        let keys: Vec<String> = claims(requests).map(|(k, _)| k).collect();
        if !keys.is_empty() {
            view.keys = find_idempotency_keys(&mut *tx, &keys)
                .await?
                .into_iter()
                .map(|r| (r.key.clone(), r))
                .collect();
        }
    }
    let versions = view.versions.clone();
    let mut plans = batch::plan(requests, &mut view);
    // A retry of an append that already landed looks like a version conflict
    // until its event ids are looked up; only then is the look-up worth it.
    let conflicted = plans
        .iter()
        .any(|p| matches!(p, Plan::Fail(StoreError::WrongExpectedVersion { .. })));
    if conflicted && !look_up_existing {
        view.versions = versions;
        view.events = existing_events(&mut tx, requests).await?;
        plans = batch::plan(requests, &mut view);
    }

    let rows = EventRows::from_plans(requests, &plans);
    if rows.event_id.is_empty() {
        tx.rollback().await?;
        return Ok(results(requests, plans, &HashMap::new()));
    }
    let appended = rows.event_id.len() as u64;
    let positions = insert_events(&mut tx, rows).await?;
    insert_claims(&mut tx, requests, &plans, &positions).await?;
    // Delivered when (and if) the transaction commits: wakes readers in
    // other processes (see `listen.rs`).
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(super::listen::CHANNEL)
        .execute(&mut *tx)
        .await?;
    // Every row carries the transaction's id (`pg_current_xact_id()`).
    let txid = positions.values().next().map(|p| p.major());
    if let Err(e) = tx.commit().await {
        let e = CommitError::from(e);
        // A broken connection during COMMIT leaves it in doubt: it may have
        // taken effect. Find out before telling anyone nothing was written.
        let (CommitError::Store(StoreError::Unavailable(cause)), Some(txid)) = (&e, txid) else {
            return Err(e);
        };
        metrics::counter!("orderflow_store_commits_in_doubt_total").increment(1);
        match in_doubt::settle(pool, txid, cause).await? {
            Outcome::Committed => {
                tracing::warn!(txid, error = %cause, "COMMIT lost its answer but took effect");
            }
            Outcome::Aborted => return Err(e),
        }
    }
    metrics::counter!("orderflow_events_appended_total").increment(appended);
    Ok(results(requests, plans, &positions))
}

async fn stream_versions(
    tx: &mut Transaction<'_, Postgres>,
    requests: &[&AppendRequest],
) -> Result<HashMap<StreamId, u64>, sqlx::Error> {
    let mut streams: Vec<&str> = requests.iter().map(|r| r.stream_id.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    // A correlated max() per stream uses the (stream_id, stream_version)
    // index backwards: one index probe per stream.
    let rows = sqlx::query(
        "SELECT s.id, COALESCE((SELECT max(e.stream_version) FROM events e \
                                WHERE e.stream_id = s.id), 0) AS version \
         FROM unnest($1::text[]) AS s(id)",
    )
    .bind(&streams)
    .fetch_all(&mut **tx)
    .await?;
    let mut versions = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let version: i64 = row.try_get("version")?;
        if let Ok(id) = StreamId::new(id) {
            versions.insert(id, u64::try_from(version).unwrap_or(0));
        }
    }
    Ok(versions)
}

async fn existing_events(
    tx: &mut Transaction<'_, Postgres>,
    requests: &[&AppendRequest],
) -> Result<HashMap<Uuid, StoredEvent>, sqlx::Error> {
    let ids: Vec<Uuid> = requests
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id))
        .collect();
    let rows = sqlx::query(
        "SELECT event_id, stream_id, stream_version, global_position, \
                transaction_id::text AS txid \
         FROM events WHERE event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let stream: String = row.try_get("stream_id")?;
        let version: i64 = row.try_get("stream_version")?;
        let (Ok(stream_id), Ok(position)) = (StreamId::new(stream), position(&row)) else {
            continue;
        };
        found.insert(
            row.try_get("event_id")?,
            StoredEvent {
                stream_id,
                stream_version: u64::try_from(version).unwrap_or(0),
                position,
            },
        );
    }
    Ok(found)
}

/// Column arrays for one multi-row insert (`unnest` keeps it one statement
/// with seven parameters, whatever the batch size).
#[derive(Default)]
pub(super) struct EventRows {
    stream_id: Vec<String>,
    stream_version: Vec<i64>,
    event_id: Vec<Uuid>,
    event_type: Vec<String>,
    schema_version: Vec<i32>,
    payload: Vec<serde_json::Value>,
    metadata: Vec<serde_json::Value>,
}

impl EventRows {
    /// The rows of every planned write, in the canonical order (stream id,
    /// version): two transactions inserting into the same streams then take
    /// the unique index's entries in the same order, so one waits for the
    /// other instead of deadlocking with it.
    fn from_plans(requests: &[&AppendRequest], plans: &[Plan]) -> EventRows {
        let mut planned: Vec<(&AppendRequest, u64, &crate::NewEvent)> = Vec::new();
        for (req, plan) in requests.iter().zip(plans) {
            let Plan::Write { first_version } = plan else {
                continue;
            };
            for (offset, e) in req.events.iter().enumerate() {
                planned.push((req, first_version + offset as u64, e));
            }
        }
        planned.sort_by(|a, b| (a.0.stream_id.as_str(), a.1).cmp(&(b.0.stream_id.as_str(), b.1)));
        let mut rows = EventRows::default();
        for (req, version, e) in planned {
            rows.push(&req.stream_id, version, e);
        }
        rows
    }

    /// One row; inserted in push order.
    pub(super) fn push(&mut self, stream_id: &StreamId, version: u64, e: &crate::NewEvent) {
        self.stream_id.push(stream_id.as_str().to_owned());
        self.stream_version
            .push(i64::try_from(version).unwrap_or(i64::MAX));
        self.event_id.push(e.event_id);
        self.event_type.push(e.event_type.clone());
        self.schema_version
            .push(i32::try_from(e.schema_version).unwrap_or(i32::MAX));
        self.payload.push(e.payload.clone());
        self.metadata
            .push(serde_json::to_value(&e.metadata).unwrap_or_default());
    }
}

async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    rows: EventRows,
) -> Result<HashMap<Uuid, crate::Position>, CommitError> {
    let returned = insert_rows(tx, rows).await?;
    let mut positions = HashMap::with_capacity(returned.len());
    for row in returned {
        positions.insert(row.try_get("event_id")?, position(&row)?);
    }
    Ok(positions)
}

/// Inserts `rows` in their order with one statement, returning `event_id`,
/// `txid` and `global_position` of each.
pub(super) async fn insert_rows(
    conn: &mut sqlx::PgConnection,
    rows: EventRows,
) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (stream_id, stream_version, event_id, event_type, \
                             schema_version, payload, metadata) \
         SELECT stream_id, stream_version, event_id, event_type, schema_version, payload, metadata \
         FROM unnest($1::text[], $2::int8[], $3::uuid[], $4::text[], $5::int4[], \
                     $6::jsonb[], $7::jsonb[]) WITH ORDINALITY \
              AS t(stream_id, stream_version, event_id, event_type, schema_version, \
                   payload, metadata, ord) \
         ORDER BY ord \
         RETURNING event_id, transaction_id::text AS txid, global_position",
    )
    .bind(rows.stream_id)
    .bind(rows.stream_version)
    .bind(rows.event_id)
    .bind(rows.event_type)
    .bind(rows.schema_version)
    .bind(rows.payload)
    .bind(rows.metadata)
    .fetch_all(&mut *conn)
    .await
}

fn claims<'a>(
    requests: &'a [&AppendRequest],
) -> impl Iterator<Item = (String, &'a AppendRequest)> + 'a {
    requests
        .iter()
        .filter_map(|r| r.idempotency.as_ref().map(|c| (c.key.clone(), *r)))
}

/// Records the keys of the written appends. A key whose row has expired is
/// replaced in place (its row lock orders this against a concurrent
/// replacer or cleanup); a key whose row is live was claimed by another
/// transaction since the look-up, so the batch is retried with look-ups.
async fn insert_claims(
    tx: &mut Transaction<'_, Postgres>,
    requests: &[&AppendRequest],
    plans: &[Plan],
    positions: &HashMap<Uuid, crate::Position>,
) -> Result<(), CommitError> {
    let mut key = Vec::new();
    let mut hash = Vec::new();
    let mut response = Vec::new();
    let mut stream = Vec::new();
    let mut version = Vec::new();
    let mut position = Vec::new();
    let mut ttl_ms = Vec::new();
    let mut claimed: Vec<(&IdempotencyClaim, &AppendRequest, AppendResult)> = requests
        .iter()
        .zip(plans)
        .filter_map(|(req, plan)| {
            let (Some(claim), Plan::Write { .. }) = (&req.idempotency, plan) else {
                return None;
            };
            Some((claim, *req, written_result(req, plan, positions)?))
        })
        .collect();
    // Canonical order, as for the events: no deadlock over two keys.
    claimed.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    for (claim, req, result) in claimed {
        key.push(claim.key.clone());
        hash.push(claim.request_hash.clone());
        response.push(claim.response.clone());
        stream.push(req.stream_id.as_str().to_owned());
        version.push(i64::try_from(result.stream_version).unwrap_or(i64::MAX));
        position.push(result.position.to_string());
        ttl_ms.push(i64::try_from(claim.ttl.as_millis()).unwrap_or(i64::MAX));
    }
    if key.is_empty() {
        return Ok(());
    }
    let wanted = key.len();
    // Postgres caps a timestamp in the year 294276: a huge TTL is "never"
    // (`infinity`), not an out-of-range error for this batch.
    let written = sqlx::query(
        "INSERT INTO idempotency_keys \
             (key, request_hash, response, stream_id, stream_version, position, expires_at) \
         SELECT k, h, r, s, v, p, \
                CASE WHEN ms >= 3153600000000 THEN 'infinity'::timestamptz \
                     ELSE now() + ms * interval '1 millisecond' END \
         FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::int8[], \
                     $6::text[], $7::int8[]) AS t(k, h, r, s, v, p, ms) \
         ON CONFLICT (key) DO UPDATE SET \
             request_hash = EXCLUDED.request_hash, response = EXCLUDED.response, \
             stream_id = EXCLUDED.stream_id, stream_version = EXCLUDED.stream_version, \
             position = EXCLUDED.position, created_at = now(), \
             expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= now() \
         RETURNING key",
    )
    .bind(key)
    .bind(hash)
    .bind(response)
    .bind(stream)
    .bind(version)
    .bind(position)
    .bind(ttl_ms)
    .fetch_all(&mut **tx)
    .await?;
    if written.len() < wanted {
        return Err(CommitError::Collision(
            "an idempotency key was claimed by a concurrent append".into(),
        ));
    }
    Ok(())
}

/// Version and position after a written append: those of its last event.
fn written_result(
    req: &AppendRequest,
    plan: &Plan,
    positions: &HashMap<Uuid, crate::Position>,
) -> Option<AppendResult> {
    let Plan::Write { first_version } = plan else {
        return None;
    };
    let last = req.events.last()?;
    Some(AppendResult {
        stream_version: first_version + req.events.len() as u64 - 1,
        position: *positions.get(&last.event_id)?,
    })
}

fn results(
    requests: &[&AppendRequest],
    plans: Vec<Plan>,
    positions: &HashMap<Uuid, crate::Position>,
) -> BatchResults {
    requests
        .iter()
        .zip(plans)
        .map(|(req, plan)| match plan {
            Plan::Write { .. } => Some(written_result(req, &plan, positions).ok_or_else(|| {
                StoreError::Backend("inserted event missing from RETURNING".into())
            })),
            Plan::AlreadyAppended(result) => Some(Ok(result)),
            Plan::Fail(e) => Some(Err(e)),
            Plan::Defer => None,
        })
        .collect()
}
