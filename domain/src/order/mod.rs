//! The order aggregate as a decider: `decide(&state, &command, at)` yields
//! events, `evolve(state, &event)` applies one, `fold` applies a stream.

pub mod address;
pub mod channel;
pub mod codec;
pub mod command;
pub mod decide;
pub mod error;
pub mod event;
pub mod evolve;
pub mod item;
pub mod legacy;
pub mod state;
pub mod status;
pub mod upcast;

pub use crate::limits;
pub use address::ShippingAddress;
pub use channel::Channel;
pub use codec::{EventDecodeError, SCHEMA_VERSIONS, current_schema_version, payload_schema};
pub use command::{COMMAND_NAMES, OrderCommand};
pub use decide::decide;
pub use error::OrderError;
pub use event::{
    EVENT_TYPES, ItemAdded, ItemQuantityChanged, ItemRemoved, OrderCancelled, OrderConfirmed,
    OrderCreated, OrderDelivered, OrderEvent, OrderRejected, OrderShipped, OrderSubmitted,
    PaymentRecorded, RefundIssued, ShippingAddressSet,
};
pub use evolve::{evolve, fold};
pub use item::{LineItem, NewItem};
pub use state::OrderState;
pub use status::OrderStatus;
pub use upcast::{UPCASTERS, Upcaster, upcast_chain, upcaster};
