//! The orderflow domain: the order aggregate as a pure decider, with its
//! commands, events, money and ids.
//!
//! Nothing here does I/O, reads a clock or draws random numbers: time and
//! ids come in with the command, so deciding and folding are deterministic
//! and replayable.

pub mod ids;
pub mod limits;
pub mod money;
pub mod order;
pub mod validation;

pub use ids::{CustomerId, ORDER_CATEGORY, OrderId, PaymentId, RefundId, Sku};
pub use money::{Currency, Money, MoneyError};
pub use order::{
    COMMAND_NAMES, Channel, EVENT_TYPES, EventDecodeError, ItemAdded, ItemQuantityChanged,
    ItemRemoved, LineItem, NewItem, OrderCancelled, OrderCommand, OrderConfirmed, OrderCreated,
    OrderDelivered, OrderError, OrderEvent, OrderRejected, OrderShipped, OrderState, OrderStatus,
    OrderSubmitted, PaymentRecorded, RefundIssued, SCHEMA_VERSIONS, ShippingAddress,
    ShippingAddressSet, UPCASTERS, Upcaster, current_schema_version, decide, evolve, fold,
    payload_schema, upcast_chain, upcaster,
};
pub use validation::{TextKind, ValidationError, Violation, check_text};
