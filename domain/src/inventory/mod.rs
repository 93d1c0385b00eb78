//! The stock of one sku as a decider, in the stream `product-<sku>`:
//! `decide(&state, &command, at)` yields events, `evolve(state, &event)`
//! applies one, `fold` applies a stream.
//!
//! A refused reservation (not enough available) is an error, not an event:
//! it changes no stock, and the caller that asked (the fulfilment process)
//! records it in its own stream, where the "why" of an order belongs. So a
//! sold-out sku's stream does not grow with every order that finds it empty.

pub mod codec;
pub mod command;
pub mod decide;
pub mod error;
pub mod event;
pub mod evolve;
pub mod state;

pub use codec::{SCHEMA_VERSIONS, current_schema_version, payload_schema};
pub use command::{COMMAND_NAMES, InventoryCommand};
pub use decide::decide;
pub use error::InventoryError;
pub use event::{
    EVENT_TYPES, InventoryEvent, ReservationCommitted, StockAdjusted, StockReceived, StockReleased,
    StockReserved,
};
pub use evolve::{evolve, fold};
pub use state::{InventoryState, Settlement};
