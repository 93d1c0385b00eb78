//! The decision every store makes for a batch of appends, kept pure so the
//! Postgres and in-memory stores cannot drift apart.
//!
//! Given what the store holds now (stream versions, event ids, idempotency
//! keys), each append in arrival order either writes, turns out to be a
//! retry of something already stored, fails on its own, or is deferred to
//! the next batch because it depends on another append in this one.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::{AppendRequest, AppendResult, IdempotencyRecord, Position, StoreError, StreamId};

/// Where an already stored event sits.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub stream_id: StreamId,
    pub stream_version: u64,
    pub position: Position,
}

/// What the store holds that matters to a batch.
#[derive(Debug, Default)]
pub(crate) struct StoreView {
    /// Current version of each stream in the batch (absent = empty stream).
    pub versions: HashMap<StreamId, u64>,
    /// Those of the batch's event ids that exist already.
    pub events: HashMap<Uuid, StoredEvent>,
    /// Those of the batch's idempotency keys that exist already.
    pub keys: HashMap<String, IdempotencyRecord>,
}

#[derive(Debug)]
pub(crate) enum Plan {
    /// Write the events with versions `first_version..`.
    Write {
        first_version: u64,
    },
    /// Every event id is stored already, in this stream: a retry.
    AlreadyAppended(AppendResult),
    Fail(StoreError),
    /// Shares an event id or idempotency key with an earlier append of this
    /// batch; run it in the next batch, when the earlier one is visible.
    Defer,
}

/// Decides each request in order. `view.versions` is advanced as writes are
/// planned so two appends to one stream in one batch see each other.
pub(crate) fn plan(requests: &[&AppendRequest], view: &mut StoreView) -> Vec<Plan> {
    let mut batch_ids: HashSet<Uuid> = HashSet::new();
    let mut batch_keys: HashSet<&str> = HashSet::new();
    requests
        .iter()
        .map(|req| {
            let plan = plan_one(req, view, &batch_ids, &batch_keys);
            if matches!(plan, Plan::Write { .. }) {
                batch_ids.extend(req.events.iter().map(|e| e.event_id));
                if let Some(claim) = &req.idempotency {
                    batch_keys.insert(claim.key.as_str());
                }
                let v = view.versions.entry(req.stream_id.clone()).or_insert(0);
                *v += req.events.len() as u64;
            }
            plan
        })
        .collect()
}

fn plan_one(
    req: &AppendRequest,
    view: &StoreView,
    batch_ids: &HashSet<Uuid>,
    batch_keys: &HashSet<&str>,
) -> Plan {
    if req.events.is_empty() {
        return Plan::Fail(StoreError::EmptyAppend);
    }
    if let Some(claim) = &req.idempotency {
        if let Some(record) = view.keys.get(&claim.key) {
            return Plan::Fail(StoreError::IdempotencyKeyUsed(Box::new(record.clone())));
        }
        if batch_keys.contains(claim.key.as_str()) {
            return Plan::Defer;
        }
    }
    if req.events.iter().any(|e| batch_ids.contains(&e.event_id)) {
        return Plan::Defer;
    }
    let stored: Vec<(Uuid, &StoredEvent)> = req
        .events
        .iter()
        .filter_map(|e| view.events.get(&e.event_id).map(|s| (e.event_id, s)))
        .collect();
    if !stored.is_empty() {
        return retry_result(req, &stored);
    }
    let actual = view.versions.get(&req.stream_id).copied().unwrap_or(0);
    if !req.expected.admits(actual) {
        return Plan::Fail(StoreError::WrongExpectedVersion {
            stream: req.stream_id.clone(),
            expected: req.expected,
            actual,
        });
    }
    Plan::Write {
        first_version: actual + 1,
    }
}

/// An append whose ids are (partly) stored: fine only if it is a full retry.
fn retry_result(req: &AppendRequest, stored: &[(Uuid, &StoredEvent)]) -> Plan {
    let same_stream = stored.iter().all(|(_, s)| s.stream_id == req.stream_id);
    let last = stored
        .iter()
        .map(|(_, s)| s)
        .max_by_key(|s| s.stream_version);
    match last {
        Some(last) if same_stream && stored.len() == req.events.len() => {
            Plan::AlreadyAppended(AppendResult {
                stream_version: last.stream_version,
                position: last.position,
            })
        }
        _ => Plan::Fail(StoreError::EventIdReused {
            event_id: stored.first().map(|(id, _)| *id).unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventMetadata, ExpectedVersion, IdempotencyClaim, NewEvent};

    fn stream(s: &str) -> StreamId {
        StreamId::new(s).expect("valid stream id")
    }

    fn event(id: u128) -> NewEvent {
        NewEvent {
            event_id: Uuid::from_u128(id),
            event_type: "T".into(),
            schema_version: 1,
            payload: serde_json::json!({}),
            metadata: EventMetadata::default(),
        }
    }

    fn req(s: &str, expected: ExpectedVersion, ids: &[u128]) -> AppendRequest {
        AppendRequest::new(stream(s), expected, ids.iter().map(|i| event(*i)).collect())
    }

    #[test]
    fn appends_to_one_stream_in_one_batch_see_each_other() {
        let a = req("s-1", ExpectedVersion::NoStream, &[1, 2]);
        let b = req("s-1", ExpectedVersion::Exact(2), &[3]);
        let c = req("s-1", ExpectedVersion::Exact(2), &[4]);
        let plans = plan(&[&a, &b, &c], &mut StoreView::default());
        assert!(matches!(plans[0], Plan::Write { first_version: 1 }));
        assert!(matches!(plans[1], Plan::Write { first_version: 3 }));
        assert!(matches!(
            plans[2],
            Plan::Fail(StoreError::WrongExpectedVersion { actual: 3, .. })
        ));
    }

    #[test]
    fn a_full_retry_is_recognised_and_a_partial_one_refused() {
        let mut view = StoreView::default();
        for (id, v) in [(1u128, 1u64), (2, 2)] {
            view.events.insert(
                Uuid::from_u128(id),
                StoredEvent {
                    stream_id: stream("s-1"),
                    stream_version: v,
                    position: Position::new(1, v),
                },
            );
        }
        view.versions.insert(stream("s-1"), 2);
        let retry = req("s-1", ExpectedVersion::NoStream, &[1, 2]);
        let partial = req("s-1", ExpectedVersion::Any, &[2, 3]);
        let elsewhere = req("s-2", ExpectedVersion::Any, &[1, 2]);
        let plans = plan(&[&retry, &partial, &elsewhere], &mut view);
        assert!(matches!(
            plans[0],
            Plan::AlreadyAppended(AppendResult {
                stream_version: 2,
                ..
            })
        ));
        assert!(matches!(
            plans[1],
            Plan::Fail(StoreError::EventIdReused { .. })
        ));
        assert!(matches!(
            plans[2],
            Plan::Fail(StoreError::EventIdReused { .. })
        ));
    }

    #[test]
    fn shared_ids_or_keys_within_a_batch_are_deferred() {
        let mut a = req("s-1", ExpectedVersion::Any, &[1]);
        let b = req("s-1", ExpectedVersion::Any, &[1]);
        let mut c = req("s-2", ExpectedVersion::Any, &[7]);
        let claim = IdempotencyClaim {
            key: "k".into(),
            request_hash: "h".into(),
            response: serde_json::json!({}),
            ttl: IdempotencyClaim::DEFAULT_TTL,
        };
        a.idempotency = Some(claim.clone());
        c.idempotency = Some(claim);
        let plans = plan(&[&a, &b, &c], &mut StoreView::default());
        assert!(matches!(plans[0], Plan::Write { .. }));
        assert!(matches!(plans[1], Plan::Defer));
        assert!(matches!(plans[2], Plan::Defer));
    }

    #[test]
    fn empty_appends_fail() {
        let a = req("s-1", ExpectedVersion::Any, &[]);
        let plans = plan(&[&a], &mut StoreView::default());
        assert!(matches!(plans[0], Plan::Fail(StoreError::EmptyAppend)));
    }
}
