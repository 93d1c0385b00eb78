//! The event schema registry: `schemas/<EventType>/v<N>.json`, one JSON
//! Schema (2020-12) per event type and version, generated from the Rust
//! event types, plus `schemas/asyncapi.yaml` describing the NATS messages.
//!
//! `export` writes what is new and never rewrites a committed version;
//! `check` fails, naming the file and the rule, when code and registry
//! disagree or a new version cannot be read where an older one could.

mod asyncapi;
mod check;
mod code;
mod compat;
mod examples;
mod files;

pub use asyncapi::asyncapi_document;
pub use check::{Finding, check, export};
pub use code::{CodeRegistry, CodeSchema};
pub use compat::{Incompatibility, backward_compatible};
pub use files::{Registry, RegistryError};
