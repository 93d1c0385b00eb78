//! Projections: the read models folded from the event log, the projector
//! that keeps them current (live from JetStream, catching up from the store
//! when behind), rebuild by replay, and the operator's status/retry/skip.

mod api;
mod config;
mod db;
mod decode;
mod error;
mod fold;
mod live;
mod notify;
mod rebuild;
mod runner;
mod status;
mod worker;

pub use api::{rebuild, rebuild_with, retry, skip, status};
pub use config::ProjectorConfig;
pub use db::connect_read_db;
pub use error::{FoldError, ProjectionError};
pub use fold::{PROJECTIONS, ProjectionDef, projection};
pub use rebuild::{RebuildProgress, RebuildReport};
pub use runner::{run_projector, run_projector_with};
pub use status::{
    ProjectionStatus, STORE_LAG_LIMIT, retry_with, skip_with, status_with, status_with_store,
};
