//! The event store: the trait every part of orderflow writes to and reads
//! from, and its implementations.

mod append_signal;
mod batch;
mod error;
mod event;
#[cfg(feature = "kurrentdb")]
pub mod kurrentdb;
mod memory;
mod postgres;
mod store;
mod watermark;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use append_signal::AppendSignal;
pub use error::StoreError;
pub use event::{
    AppendRequest, AppendResult, EventMetadata, ExpectedVersion, IdempotencyClaim,
    IdempotencyRecord, InvalidStreamId, MAX_STREAM_ID_LEN, NewEvent, RawEvent, RecordedEvent,
    StreamId,
};
#[cfg(feature = "kurrentdb")]
pub use kurrentdb::{KurrentDbConfig, KurrentDbStore};
pub use memory::InMemoryStore;
/// The position token is part of the wire contract; the store hands it out.
pub use orderflow_wire::{ParsePositionError, Position};
pub use postgres::{
    PgEventStore, PgStoreConfig, database_name, ensure_database, migrate, pg_admin,
};
pub use store::EventStore;
pub use watermark::Watermark;
