//! An instance's stream in the event store: load and fold it, append a
//! decision's events under deterministic ids.

use std::sync::Arc;

use orderflow_domain::OrderId;
use orderflow_domain::fulfilment::{
    FulfilmentEvent, FulfilmentState, deterministic_id, evolve, stream_id,
};
use orderflow_event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError,
    StreamId,
};

use crate::error::FulfilmentError;
use crate::orders::ACTOR;

/// The instance stream of `order`.
pub fn stream(order: OrderId) -> Result<StreamId, FulfilmentError> {
    StreamId::new(stream_id(order)).map_err(|e| FulfilmentError::Corrupt(e.to_string()))
}

/// The instance as stored, with its events.
pub async fn load(
    store: &Arc<dyn EventStore>,
    order: OrderId,
) -> Result<(FulfilmentState, Vec<(RecordedEvent, FulfilmentEvent)>), FulfilmentError> {
    let recorded = store.read_stream(&stream(order)?).await?;
    let mut events = Vec::with_capacity(recorded.len());
    let mut state = FulfilmentState::default();
    for r in recorded {
        let e = FulfilmentEvent::from_stored(&r.event_type, r.payload.clone())
            .map_err(|e| FulfilmentError::Corrupt(e.to_string()))?;
        state = evolve(state, &e);
        events.push((r, e));
    }
    Ok((state, events))
}

/// What appending a decision came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Written (or written before under the same ids: a repeat).
    Done,
    /// The stream moved since `state` was loaded: load and decide again.
    Conflict,
}

/// Appends `events` decided on `state` for the input named `input_key`.
/// Event ids derive from the instance, the input and the index, so a
/// repeated input (redelivery, a racing owner) re-appends the same ids,
/// which the store answers as already done.
pub async fn append(
    store: &Arc<dyn EventStore>,
    order: OrderId,
    state: &FulfilmentState,
    input_key: &str,
    events: &[FulfilmentEvent],
) -> Result<Appended, FulfilmentError> {
    if events.is_empty() {
        return Ok(Appended::Done);
    }
    let stream = stream(order)?;
    let expected = match state.version {
        0 => ExpectedVersion::NoStream,
        v => ExpectedVersion::Exact(v),
    };
    let new_events = events
        .iter()
        .enumerate()
        .map(|(i, e)| NewEvent {
            event_id: deterministic_id(&format!("{stream}/{input_key}/{i}")),
            event_type: e.event_type().to_owned(),
            schema_version: 1,
            payload: e.payload(),
            metadata: EventMetadata {
                correlation_id: Some(order.to_string()),
                causation_id: Some(input_key.to_owned()),
                actor: Some(ACTOR.to_owned()),
                actor_client_id: Some(ACTOR.to_owned()),
                ..EventMetadata::default()
            },
        })
        .collect();
    match store
        .append(AppendRequest::new(stream, expected, new_events))
        .await
    {
        Ok(_) => Ok(Appended::Done),
        Err(StoreError::WrongExpectedVersion { .. }) => Ok(Appended::Conflict),
        Err(e) => Err(e.into()),
    }
}
