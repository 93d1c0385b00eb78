//! Idempotency keys on KurrentDB.
//!
//! Postgres remembers a key in the same transaction as the append's events,
//! so exactly one of several racing requests with one key appends, and the
//! others (blocked on the key's unique index until it commits) get the first
//! response. KurrentDB has no transaction across two streams, so the same
//! guarantee is built from single-stream optimistic concurrency on a *key
//! stream* per key, `<namespace>orderflow_idempotency-<uuid v5 of the key>`
//! (outside the stream prefixes `read_all` returns, so never relayed):
//!
//! 1. **Claim**: append `IdempotencyClaimed` (key, request hash, response,
//!    target stream, the append's event ids) expecting the key stream to be
//!    empty (or at its last `IdempotencyReleased`). Exactly one racer wins.
//!    Its event id is derived from the key and the append's first event id,
//!    so the same request retried after a lost reply re-appends the same
//!    event, which KurrentDB's own idempotency accepts, and it goes on.
//! 2. **Append** the events to the target stream (event ids are the
//!    request's, so this step is idempotent too).
//! 3. **Complete**: append `IdempotencyCompleted` (stream version and full
//!    position) expecting the claim's revision. If the append failed
//!    definitely (a version conflict, say), append `IdempotencyReleased`
//!    instead, so the key is free again, as a rolled-back Postgres
//!    transaction leaves it.
//!
//! A racer that finds a claim without an outcome waits for one (up to
//! `KurrentDbConfig::idempotency_wait`, then `StoreError::Unavailable`, which
//! callers retry). A claim whose owner died between the steps is recovered
//! once it is older than `KurrentDbConfig::claim_lease` (by the server's
//! clock): if all its event ids are in the target stream it is completed
//! from them, otherwise released. `find_idempotency` reads the key stream
//! (recovering a stale claim the same way); a claim still in flight is not
//! found, as an uncommitted Postgres row is not.
//!
//! Keys expire like Postgres rows: the claim carries its TTL, and a
//! completed claim older than that (by the server's clock) folds to a free
//! key at the stream's last revision, so the next request with the key
//! claims it again in the same stream, with the same optimistic check.
//! Nothing is deleted by `delete_expired_idempotency`: a key stream holds a
//! handful of small events, and KurrentDB removes data only by scavenging;
//! a reclaimed stream gets `$tb` (truncate before) at its new claim, so a
//! scavenge drops the expired generation.
//!
//! What this does not give: the Postgres store's atomicity. Between steps 2
//! and 3 the events are visible while the key still reads as pending, and an
//! owner that stalls for longer than the lease after claiming and then
//! appends could append after its claim was released.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kurrentdb::{AppendToStreamOptions, EventData, ReadStreamOptions, StreamMetadata, StreamState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::store_error;
use super::metadata::created;
use super::store::{KurrentDbStore, Stored};
use crate::{
    AppendRequest, AppendResult, IdempotencyClaim, IdempotencyRecord, Position, StoreError,
    StreamId,
};

/// Namespace of the v5 uuids of key streams and key-stream events.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_7266_6c6f_7769_6465_6d70_6f74);

pub(crate) const CLAIMED: &str = "IdempotencyClaimed";
pub(crate) const COMPLETED: &str = "IdempotencyCompleted";
pub(crate) const RELEASED: &str = "IdempotencyReleased";

/// How often a racer looks at a pending claim again.
const POLL: Duration = Duration::from_millis(20);

/// The key stream of an idempotency key.
pub(crate) fn key_stream(namespace: &str, key: &str) -> String {
    format!(
        "{namespace}orderflow_idempotency-{}",
        Uuid::new_v5(&NAMESPACE, key.as_bytes())
    )
}

/// The claim's event id: the same for the same request (key and first
/// event id), different for another request with the key.
pub(crate) fn claim_id(key: &str, first_event: Uuid) -> Uuid {
    let mut name = Vec::with_capacity(key.len() + 24);
    name.extend_from_slice(b"claim\0");
    name.extend_from_slice(key.as_bytes());
    name.push(0);
    name.extend_from_slice(first_event.as_bytes());
    Uuid::new_v5(&NAMESPACE, &name)
}

/// The id of the outcome (`COMPLETED` or `RELEASED`) of a claim.
fn outcome_id(kind: &str, claim: Uuid) -> Uuid {
    let mut name = kind.as_bytes().to_vec();
    name.push(0);
    name.extend_from_slice(claim.as_bytes());
    Uuid::new_v5(&NAMESPACE, &name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Claimed {
    pub key: String,
    pub request_hash: String,
    pub response: serde_json::Value,
    pub stream_id: StreamId,
    pub event_ids: Vec<Uuid>,
    /// How long the key is remembered after the claim (absent in claims
    /// written before keys expired: those get the default TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

impl Claimed {
    /// When a claim made at `claimed_at` stops counting.
    fn expires(&self, claimed_at: DateTime<Utc>) -> DateTime<Utc> {
        let ttl = self
            .ttl_ms
            .map_or(IdempotencyClaim::DEFAULT_TTL, Duration::from_millis);
        chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|ttl| claimed_at.checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Completed {
    pub stream_version: u64,
    /// The full position token ("commit.prepare").
    pub position: Position,
}

/// One event of a key stream, as read.
#[derive(Debug, Clone)]
pub(crate) struct KeyEvent {
    pub id: Uuid,
    pub revision: u64,
    pub event_type: String,
    pub data: Vec<u8>,
    pub created: DateTime<Utc>,
}

/// What a key stream says about its key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyState {
    /// Claimable, expecting this stream state.
    Free(StreamState),
    /// Claimed at `revision`; the append's outcome is not recorded yet.
    Pending {
        claim: Claimed,
        claim_id: Uuid,
        revision: u64,
        claimed_at: DateTime<Utc>,
    },
    /// The key's first response, with the append it made.
    Done(IdempotencyRecord),
}

/// Folds a key stream (in revision order) into its state at `now`: a
/// completed claim that expired by then is a free key again.
pub(crate) fn fold(events: &[KeyEvent], now: DateTime<Utc>) -> Result<KeyState, StoreError> {
    let corrupt = |e: &KeyEvent, what: String| {
        StoreError::Corrupt(format!(
            "idempotency key stream event {} ({}): {what}",
            e.id, e.event_type
        ))
    };
    let mut state = KeyState::Free(StreamState::NoStream);
    // When the completed claim in `state` expires.
    let mut expires = DateTime::<Utc>::MAX_UTC;
    for e in events {
        state = match (e.event_type.as_str(), state) {
            // A claim after a completion: the completed key had expired
            // (a claim is only written expecting the revision folded here).
            (CLAIMED, KeyState::Free(_) | KeyState::Done(_)) => KeyState::Pending {
                claim: serde_json::from_slice(&e.data).map_err(|x| corrupt(e, x.to_string()))?,
                claim_id: e.id,
                revision: e.revision,
                claimed_at: e.created,
            },
            (
                COMPLETED,
                KeyState::Pending {
                    claim, claimed_at, ..
                },
            ) => {
                let done: Completed =
                    serde_json::from_slice(&e.data).map_err(|x| corrupt(e, x.to_string()))?;
                expires = claim.expires(claimed_at);
                KeyState::Done(IdempotencyRecord {
                    key: claim.key,
                    request_hash: claim.request_hash,
                    response: claim.response,
                    stream_id: claim.stream_id,
                    result: AppendResult {
                        stream_version: done.stream_version,
                        position: done.position,
                    },
                })
            }
            (RELEASED, KeyState::Pending { .. }) => {
                KeyState::Free(StreamState::StreamRevision(e.revision))
            }
            // Nothing follows a completion (writes expect exact revisions).
            (_, KeyState::Done(record)) => KeyState::Done(record),
            (_, _) => return Err(corrupt(e, "out of order".into())),
        };
    }
    Ok(match (state, events.last()) {
        (KeyState::Done(_), Some(last)) if expires <= now => {
            KeyState::Free(StreamState::StreamRevision(last.revision))
        }
        (state, _) => state,
    })
}

fn key_event(event_type: &str, id: Uuid, body: &impl Serialize) -> Result<EventData, StoreError> {
    Ok(EventData::json(event_type, body)
        .map_err(|e| StoreError::Backend(format!("cannot encode {event_type}: {e}")))?
        .id(id))
}

async fn read_key(store: &KurrentDbStore, stream: &str) -> Result<KeyState, StoreError> {
    let events: Vec<KeyEvent> = store
        .read_raw(stream, &ReadStreamOptions::default())
        .await?
        .into_iter()
        .filter(|e| !e.event_type.starts_with('$'))
        .map(|e| KeyEvent {
            id: e.id,
            revision: e.revision,
            created: created(&e),
            event_type: e.event_type,
            data: e.data.to_vec(),
        })
        .collect();
    fold(&events, Utc::now())
}

/// Appends one event to a key stream; `Ok(false)` on a version conflict.
async fn write_key(
    store: &KurrentDbStore,
    stream: &str,
    expected: StreamState,
    event: EventData,
) -> Result<Option<u64>, StoreError> {
    let options = AppendToStreamOptions::default().stream_state(expected);
    match store
        .client()
        .append_to_stream(stream, &options, event)
        .await
    {
        Ok(written) => Ok(Some(written.next_expected_version)),
        Err(kurrentdb::Error::WrongExpectedVersion { .. }) => Ok(None),
        Err(e) => Err(store_error(e)),
    }
}

/// Records a claim's outcome; losing the race to a recovery is fine.
async fn settle_claim(
    store: &KurrentDbStore,
    stream: &str,
    claim_id: Uuid,
    revision: u64,
    outcome: Option<AppendResult>,
) -> Result<(), StoreError> {
    let event = match outcome {
        Some(result) => key_event(
            COMPLETED,
            outcome_id(COMPLETED, claim_id),
            &Completed {
                stream_version: result.stream_version,
                position: result.position,
            },
        )?,
        None => key_event(
            RELEASED,
            outcome_id(RELEASED, claim_id),
            &serde_json::json!({}),
        )?,
    };
    write_key(store, stream, StreamState::StreamRevision(revision), event)
        .await
        .map(|_| ())
}

/// Settles a claim older than the lease from what its append left behind.
/// Returns the new state, or `None` while the claim is still young.
async fn recover(
    store: &KurrentDbStore,
    stream: &str,
    state: &KeyState,
) -> Result<Option<KeyState>, StoreError> {
    let KeyState::Pending {
        claim,
        claim_id,
        revision,
        claimed_at,
    } = state
    else {
        return Ok(None);
    };
    let lease =
        chrono::Duration::from_std(store.config().claim_lease).unwrap_or(chrono::Duration::MAX);
    if Utc::now() - *claimed_at < lease {
        return Ok(None);
    }
    let outcome = match store.stored(&claim.stream_id, &claim.event_ids).await? {
        Stored::All(result) => Some(result),
        Stored::None | Stored::Some(_) => None,
    };
    tracing::warn!(
        stream,
        ?outcome,
        "recovering an idempotency claim past its lease"
    );
    settle_claim(store, stream, *claim_id, *revision, outcome).await?;
    read_key(store, stream).await.map(Some)
}

/// Lets a scavenge drop the events before a new claim at `revision` (an
/// expired or released generation of the key). Best effort: left in
/// place, they cost space, not correctness, since the fold skips them.
async fn forget_before(store: &KurrentDbStore, stream: &str, revision: u64) {
    let metadata = StreamMetadata::builder().truncate_before(revision).build();
    if let Err(e) = store
        .client()
        .set_stream_metadata(stream, &AppendToStreamOptions::default(), &metadata)
        .await
    {
        tracing::warn!(error = %e, key_stream = %stream, "could not truncate an idempotency key stream");
    }
}

/// `EventStore::append` for a request with an idempotency key.
pub(crate) async fn append_with_key(
    store: &KurrentDbStore,
    req: &AppendRequest,
    claim: &IdempotencyClaim,
) -> Result<AppendResult, StoreError> {
    let stream = key_stream(&store.config().namespace, &claim.key);
    let first = req
        .events
        .first()
        .map(|e| e.event_id)
        .ok_or(StoreError::EmptyAppend)?;
    let ours = claim_id(&claim.key, first);
    let deadline = Instant::now() + store.config().idempotency_wait;
    let revision = loop {
        let state = read_key(store, &stream).await?;
        match state {
            KeyState::Done(record) => return Err(StoreError::IdempotencyKeyUsed(Box::new(record))),
            KeyState::Pending {
                claim_id, revision, ..
            } if claim_id == ours => break revision,
            KeyState::Free(expected) => {
                let body = Claimed {
                    key: claim.key.clone(),
                    request_hash: claim.request_hash.clone(),
                    response: claim.response.clone(),
                    stream_id: req.stream_id.clone(),
                    event_ids: req.events.iter().map(|e| e.event_id).collect(),
                    ttl_ms: Some(u64::try_from(claim.ttl.as_millis()).unwrap_or(u64::MAX)),
                };
                let event = key_event(CLAIMED, ours, &body)?;
                if let Some(revision) = write_key(store, &stream, expected, event).await? {
                    if matches!(expected, StreamState::StreamRevision(_)) {
                        forget_before(store, &stream, revision).await;
                    }
                    break revision;
                }
                // Another request claimed it first: look again.
            }
            pending @ KeyState::Pending { .. } => {
                if recover(store, &stream, &pending).await?.is_some() {
                    continue;
                }
                if Instant::now() >= deadline {
                    return Err(StoreError::Unavailable(format!(
                        "idempotency key {:?} is held by an append still in flight",
                        claim.key
                    )));
                }
                tokio::time::sleep(POLL).await;
            }
        }
    };
    match store.append_events(req).await {
        Ok(result) => {
            if let Err(e) = settle_claim(store, &stream, ours, revision, Some(result)).await {
                // The events are in; a later lookup completes the claim
                // from them once its lease is over.
                tracing::warn!(error = %e, key_stream = %stream, "could not complete an idempotency claim");
            }
            Ok(result)
        }
        // Nothing can be assumed: leave the claim for recovery.
        Err(e) if e.is_unavailable() => Err(e),
        Err(e) => {
            if let Err(release) = settle_claim(store, &stream, ours, revision, None).await {
                tracing::warn!(error = %release, key_stream = %stream, "could not release an idempotency claim");
            }
            Err(e)
        }
    }
}

/// `EventStore::find_idempotency`.
pub(crate) async fn find(
    store: &KurrentDbStore,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let stream = key_stream(&store.config().namespace, key);
    let mut state = read_key(store, &stream).await?;
    if let Some(recovered) = recover(store, &stream, &state).await? {
        state = recovered;
    }
    Ok(match state {
        KeyState::Done(record) => Some(record),
        KeyState::Free(_) | KeyState::Pending { .. } => None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn claimed() -> Claimed {
        Claimed {
            key: "key-1".into(),
            request_hash: "h1".into(),
            response: serde_json::json!({ "status": 201 }),
            stream_id: StreamId::new("order-1").unwrap(),
            event_ids: vec![Uuid::now_v7()],
            ttl_ms: Some(60_000),
        }
    }

    fn ev(revision: u64, event_type: &str, body: serde_json::Value) -> KeyEvent {
        KeyEvent {
            id: Uuid::now_v7(),
            revision,
            event_type: event_type.into(),
            data: serde_json::to_vec(&body).unwrap(),
            created: Utc::now(),
        }
    }

    #[test]
    fn key_streams_are_stable_and_outside_the_event_prefixes() {
        let s = key_stream("", "key-1");
        assert_eq!(s, key_stream("", "key-1"));
        assert_ne!(s, key_stream("", "key-2"));
        assert!(s.starts_with("orderflow_idempotency-"));
        assert!(!s.starts_with("order-") && !s.starts_with("product-"));
        assert!(key_stream("t1.", "key-1").starts_with("t1.orderflow_idempotency-"));
    }

    #[test]
    fn claim_ids_identify_the_request() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_eq!(claim_id("k", a), claim_id("k", a), "a retry reclaims");
        assert_ne!(
            claim_id("k", a),
            claim_id("k", b),
            "another request does not"
        );
        assert_ne!(claim_id("k", a), claim_id("k2", a));
        assert_ne!(outcome_id(COMPLETED, a), outcome_id(RELEASED, a));
    }

    #[test]
    fn folds_claim_complete_release() {
        let c = claimed();
        let claim = ev(0, CLAIMED, serde_json::to_value(&c).unwrap());
        assert_eq!(
            fold(&[], Utc::now()).unwrap(),
            KeyState::Free(StreamState::NoStream)
        );
        assert!(matches!(
            fold(std::slice::from_ref(&claim), Utc::now()).unwrap(),
            KeyState::Pending { revision: 0, ref claim, .. } if *claim == c
        ));
        let done = ev(
            1,
            COMPLETED,
            serde_json::json!({ "streamVersion": 3, "position": "7433.1042" }),
        );
        match fold(&[claim.clone(), done], Utc::now()).unwrap() {
            KeyState::Done(r) => {
                assert_eq!(r.key, "key-1");
                assert_eq!(r.request_hash, "h1");
                assert_eq!(r.response, serde_json::json!({ "status": 201 }));
                assert_eq!(r.stream_id, c.stream_id);
                assert_eq!(
                    r.result,
                    AppendResult {
                        stream_version: 3,
                        position: Position::new(7433, 1042),
                    }
                );
            }
            other => panic!("got {other:?}"),
        }
        let released = ev(1, RELEASED, serde_json::json!({}));
        assert_eq!(
            fold(&[claim.clone(), released.clone()], Utc::now()).unwrap(),
            KeyState::Free(StreamState::StreamRevision(1))
        );
        let again = ev(2, CLAIMED, serde_json::to_value(&c).unwrap());
        assert!(matches!(
            fold(&[claim, released, again], Utc::now()).unwrap(),
            KeyState::Pending { revision: 2, .. }
        ));
    }

    #[test]
    fn an_expired_completion_frees_the_key_for_a_new_claim() {
        let c = claimed();
        let claim = ev(0, CLAIMED, serde_json::to_value(&c).unwrap());
        let done = ev(
            1,
            COMPLETED,
            serde_json::json!({ "streamVersion": 1, "position": "1.1" }),
        );
        let events = [claim, done];
        let within = events[0].created + chrono::Duration::seconds(59);
        assert!(matches!(fold(&events, within).unwrap(), KeyState::Done(_)));
        let after = events[0].created + chrono::Duration::seconds(60);
        assert_eq!(
            fold(&events, after).unwrap(),
            KeyState::Free(StreamState::StreamRevision(1))
        );
        let again = ev(2, CLAIMED, serde_json::to_value(&c).unwrap());
        let reclaimed = [events[0].clone(), events[1].clone(), again];
        assert!(matches!(
            fold(&reclaimed, after).unwrap(),
            KeyState::Pending { revision: 2, .. }
        ));
        // A claim written before keys expired gets the default window.
        let old = Claimed { ttl_ms: None, ..c };
        let at = Utc::now();
        assert_eq!(
            old.expires(at),
            at + chrono::Duration::from_std(IdempotencyClaim::DEFAULT_TTL).unwrap()
        );
    }

    #[test]
    fn rejects_impossible_key_streams() {
        let done = ev(
            0,
            COMPLETED,
            serde_json::json!({ "streamVersion": 1, "position": "1.1" }),
        );
        assert!(matches!(
            fold(&[done], Utc::now()),
            Err(StoreError::Corrupt(_))
        ));
        let bad = ev(0, CLAIMED, serde_json::json!({ "key": 1 }));
        assert!(matches!(
            fold(&[bad], Utc::now()),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn completion_keeps_the_full_position() {
        let body = serde_json::to_value(Completed {
            stream_version: 2,
            position: Position::new(u64::MAX - 1, 12),
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({ "streamVersion": 2, "position": "18446744073709551614.12" })
        );
    }
}
