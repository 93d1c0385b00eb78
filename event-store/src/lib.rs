//! The event store: the trait every part of orderflow writes to and reads
//! from, and its implementations.

mod batch;
mod error;
mod event;
#[cfg(feature = "kurrentdb")]
pub mod kurrentdb;
mod memory;
mod position;
mod postgres;
pub mod relay;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::StoreError;
pub use event::{
    AppendRequest, AppendResult, EventMetadata, ExpectedVersion, IdempotencyClaim,
    IdempotencyRecord, InvalidStreamId, MAX_STREAM_ID_LEN, NewEvent, RecordedEvent, StreamId,
};
#[cfg(feature = "kurrentdb")]
pub use kurrentdb::{KurrentDbConfig, KurrentDbStore};
pub use memory::InMemoryStore;
pub use position::{ParsePositionError, Position};
pub use postgres::{
    PgEventStore, PgStoreConfig, RawEvent, database_name, ensure_database, migrate, read_all_raw,
};
pub use store::EventStore;
