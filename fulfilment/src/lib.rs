//! The fulfilment process manager (saga, issue 15): one instance per
//! order, event-sourced in `fulfilment-<order>`, run as a subscriber on
//! the subscription runtime.
//!
//! - **Decision** is pure, in `orderflow_domain::fulfilment`: inputs →
//!   instance events; the commands to issue are a function of the state.
//! - **Effects exactly once** ([`driver`]): every command carries its
//!   step's deterministic id (the idempotency key of order commands, the
//!   refund id, the inventory's per-order idempotency), and instance events
//!   get ids derived from the input they answer, so a redelivered event, a
//!   restart or a racing owner re-appends the same ids (a no-op) and
//!   re-issues the same commands (replays).
//! - **Durable deadlines** ([`tables`], [`scheduler`]): a deadline is an
//!   instance event; the subscriber folds it into `fulfilment_deadlines` in
//!   the batch transaction of its checkpoint, and the scheduler fires due
//!   rows (again after any restart). A deadline that no longer matters
//!   fires into `decide`, which ignores it. (DESIGN.md has the rows commit
//!   with the instance's events; they cannot here, the instance events
//!   live in the event store and the rows in this subscriber's database,
//!   so the rows follow the events through the checkpoint instead.)
//! - **Operable** ([`status`]): instances by phase, stuck instances, dead
//!   letters, an instance's timeline; the same figures as metrics.
//! - **Crash points** ([`failpoints`]): with the `failpoints` feature, the
//!   process can be made to abort at any step boundary (crash tests).

pub mod config;
pub mod driver;
pub mod error;
pub mod failpoints;
pub mod health;
pub mod instance;
pub mod inventory;
pub mod orders;
pub mod ports;
pub mod provider;
pub mod run;
pub mod scheduler;
pub mod status;
pub mod subscriber;
pub mod tables;
mod under_way;

pub use config::FulfilmentConfig;
pub use driver::Driver;
pub use error::FulfilmentError;
pub use inventory::InventoryStock;
pub use ports::{EffectError, NoProvider, RefundAnswer, RefundPort, StockPort};
pub use provider::ProviderRefunds;
pub use run::{connect, migrate, run_fulfilment};
pub use status::{SagaStatus, StuckInstance, TimelineEntry, status, timeline};
pub use subscriber::{FulfilmentSubscriber, NAME};
