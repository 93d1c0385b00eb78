//! Projections: the six read models folded from the event log, each a
//! subscriber on the subscription runtime (`orderflow-subscriptions`), which
//! feeds it live from JetStream or from the store, owns it in one process at
//! a time, and commits its rows with its checkpoint. Here: the folds, the
//! read-model schema and migrations, rebuild by replay (the runtime's
//! start-version hook), change notices, and the operator's entry points.

mod api;
mod config;
mod db;
mod decode;
mod error;
mod fold;
mod notify;
mod rebuild;
mod rebuilds;
mod run;
mod status;
mod subscriber;

pub use api::{rebuild_with, retry, skip};
pub use config::ProjectorConfig;
pub use db::connect_read_db;
pub use error::{FoldError, ProjectionError};
pub use fold::{PROJECTIONS, ProjectionDef, projection};
pub use rebuild::{RebuildProgress, RebuildReport};
pub use rebuilds::{
    REPORT_EVERY, RebuildRecord, SILENT_AFTER, latest_rebuilds, request_rebuild, request_rebuilds,
    run_requested, run_requested_rebuild,
};
pub use run::run_projector_with;
pub use status::{ProjectionStatus, STORE_LAG_LIMIT, retry_with, skip_with, status_with_store};
