//! Relay checkpoints on KurrentDB: one stream per relay,
//! `<namespace>orderflow_relay-<name>`, outside the stream prefixes
//! `read_all` returns (so never relayed), whose last event holds the
//! position. Its metadata keeps only that last event (`maxCount` 1).

use kurrentdb::{
    AppendToStreamOptions, EventData, ReadStreamOptions, StreamMetadata, StreamPosition,
};
use serde::{Deserialize, Serialize};

use super::error::store_error;
use super::store::KurrentDbStore;
use crate::{Position, StoreError};

const SAVED: &str = "RelayCheckpointSaved";

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    position: Position,
}

fn stream(store: &KurrentDbStore, name: &str) -> String {
    format!("{}orderflow_relay-{name}", store.config().namespace)
}

pub(crate) async fn load(
    store: &KurrentDbStore,
    name: &str,
) -> Result<Option<Position>, StoreError> {
    let options = ReadStreamOptions::default()
        .position(StreamPosition::End)
        .backwards()
        .max_count(1);
    let last = store.read_raw(&stream(store, name), &options).await?;
    last.iter()
        .find(|e| e.event_type == SAVED)
        .map(|e| {
            serde_json::from_slice::<Saved>(&e.data)
                .map(|s| s.position)
                .map_err(|x| StoreError::Corrupt(format!("relay checkpoint {name}: {x}")))
        })
        .transpose()
}

pub(crate) async fn save(
    store: &KurrentDbStore,
    name: &str,
    position: Position,
) -> Result<(), StoreError> {
    let stream = stream(store, name);
    let event = EventData::json(SAVED, &Saved { position })
        .map_err(|e| StoreError::Backend(format!("cannot encode {SAVED}: {e}")))?;
    let written = store
        .client()
        .append_to_stream(stream.as_str(), &AppendToStreamOptions::default(), event)
        .await
        .map_err(store_error)?;
    if written.next_expected_version == 0 {
        // The stream's first event: from now on keep only the newest.
        let metadata = StreamMetadata::builder().max_count(1).build();
        store
            .client()
            .set_stream_metadata(
                stream.as_str(),
                &AppendToStreamOptions::default(),
                &metadata,
            )
            .await
            .map_err(store_error)?;
    }
    Ok(())
}
