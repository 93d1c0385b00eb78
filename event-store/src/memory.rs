//! An in-memory store with the Postgres store's semantics, for unit tests of
//! the layers above. Not durable; not for production.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use crate::batch::{self, Plan, StoreView, StoredEvent};
use crate::{
    AppendRequest, AppendResult, EventStore, IdempotencyRecord, Position, RecordedEvent,
    StoreError, StreamId,
};

/// Stands in for "never" when a TTL is too long to add to an `Instant`.
const YEARS: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);

#[derive(Debug, Default)]
pub struct InMemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Position `n` is at index `n - 1`: appends are serialised by the mutex,
    /// so commit order and position order coincide here.
    log: Vec<RecordedEvent>,
    streams: HashMap<StreamId, Vec<usize>>,
    ids: HashMap<Uuid, usize>,
    /// Each key's record and when it expires.
    keys: HashMap<String, (IdempotencyRecord, Instant)>,
    relay_checkpoints: HashMap<String, Position>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied append
        // (the log is pushed to last), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn view_for(&self, req: &AppendRequest) -> StoreView {
        let mut view = StoreView::default();
        let version = self
            .streams
            .get(&req.stream_id)
            .map_or(0, |v| v.len() as u64);
        view.versions.insert(req.stream_id.clone(), version);
        for e in &req.events {
            if let Some(&i) = self.ids.get(&e.event_id) {
                let r = &self.log[i];
                view.events.insert(
                    e.event_id,
                    StoredEvent {
                        stream_id: r.stream_id.clone(),
                        stream_version: r.stream_version,
                        position: r.position,
                    },
                );
            }
        }
        if let Some(claim) = &req.idempotency
            && let Some(rec) = self.live_key(&claim.key)
        {
            view.keys.insert(claim.key.clone(), rec.clone());
        }
        view
    }

    /// The key's record unless it expired (an expired one is replaced by
    /// the next append with the key, under the same lock).
    fn live_key(&self, key: &str) -> Option<&IdempotencyRecord> {
        self.keys
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(rec, _)| rec)
    }
}

#[async_trait]
impl EventStore for InMemoryStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        let mut inner = self.lock();
        let mut view = inner.view_for(&request);
        let plans = batch::plan(&[&request], &mut view);
        match plans.into_iter().next() {
            Some(Plan::Write { first_version }) => {
                let now = Utc::now();
                let mut result = AppendResult {
                    stream_version: first_version,
                    position: Position::START,
                };
                for (offset, e) in request.events.into_iter().enumerate() {
                    let index = inner.log.len();
                    let position = Position::new(0, index as u64 + 1);
                    let stream_version = first_version + offset as u64;
                    result = AppendResult {
                        stream_version,
                        position,
                    };
                    inner.ids.insert(e.event_id, index);
                    inner
                        .streams
                        .entry(request.stream_id.clone())
                        .or_default()
                        .push(index);
                    inner.log.push(RecordedEvent {
                        position,
                        stream_id: request.stream_id.clone(),
                        stream_version,
                        event_id: e.event_id,
                        event_type: e.event_type,
                        schema_version: e.schema_version,
                        payload: e.payload,
                        metadata: e.metadata,
                        recorded_at: now,
                    });
                }
                if let Some(claim) = request.idempotency {
                    // A far-future TTL saturates rather than overflowing.
                    let now = Instant::now();
                    let expires = now.checked_add(claim.ttl).unwrap_or(now + YEARS);
                    let record = IdempotencyRecord {
                        key: claim.key.clone(),
                        request_hash: claim.request_hash,
                        response: claim.response,
                        stream_id: request.stream_id,
                        result,
                    };
                    inner.keys.insert(claim.key, (record, expires));
                }
                Ok(result)
            }
            Some(Plan::AlreadyAppended(result)) => Ok(result),
            Some(Plan::Fail(e)) => Err(e),
            // A single append has nothing earlier in its batch to wait for.
            Some(Plan::Defer) | None => Err(StoreError::Backend(
                "in-memory store could not plan a single append".into(),
            )),
        }
    }

    async fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .streams
            .get(stream)
            .map(|idx| idx.iter().map(|&i| inner.log[i].clone()).collect())
            .unwrap_or_default())
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        let start = inner.log.partition_point(|e| e.position <= after);
        Ok(inner.log[start..].iter().take(limit).cloned().collect())
    }

    async fn head(&self) -> Result<Position, StoreError> {
        Ok(self
            .lock()
            .log
            .last()
            .map_or(Position::START, |e| e.position))
    }

    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.lock().live_key(key).cloned())
    }

    async fn delete_expired_idempotency(&self, limit: usize) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let now = Instant::now();
        let expired: Vec<String> = inner
            .keys
            .iter()
            .filter(|(_, (_, expires))| *expires <= now)
            .map(|(key, _)| key.clone())
            .take(limit)
            .collect();
        for key in &expired {
            inner.keys.remove(key);
        }
        Ok(expired.len() as u64)
    }

    async fn relay_checkpoint(&self, name: &str) -> Result<Option<Position>, StoreError> {
        Ok(self.lock().relay_checkpoints.get(name).copied())
    }

    async fn save_relay_checkpoint(
        &self,
        name: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        self.lock()
            .relay_checkpoints
            .insert(name.to_owned(), position);
        Ok(())
    }
}
