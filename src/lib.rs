//! The orderflow pipeline, assembled once: the event store, the relay, the
//! projector, the command API and the query API, each optional, started by
//! [`Pipeline::start`] and stopped together by [`Pipeline::shutdown`].
//!
//! `orderflow up` runs all of them in one process, `orderflow command-api`,
//! `relay` and `projector` one or two each, `orderflow bench lag` a private
//! copy, and the end-to-end tests one per test. They differ only in the
//! [`PipelineConfig`] they pass.

mod assembly;
mod event_stores;
mod tls;

pub use assembly::{
    CommandApiService, FulfilmentService, Pipeline, PipelineConfig, PipelineError, QueryApiService,
    Services,
};
pub use event_stores::{EventStores, EventsIn, StoreConfig};
pub use tls::install_crypto_provider;
