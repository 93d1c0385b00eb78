//! The orderflow domain: the order and the stock of a sku (`inventory`) as
//! pure deciders, with their commands, events, money and ids.
//!
//! Nothing here does I/O, reads a clock or draws random numbers: time and
//! ids come in with the command, so deciding and folding are deterministic
//! and replayable.

pub mod fulfilment;
pub mod ids;
pub mod inventory;
pub mod limits;
pub mod money;
pub mod order;
pub mod validation;

pub use ids::{CustomerId, ORDER_CATEGORY, OrderId, PRODUCT_CATEGORY, PaymentId, RefundId, Sku};
// The inventory's decide/evolve/fold and codec functions stay under
// `inventory::`, beside the order's at the root.
pub use inventory::{
    InventoryCommand, InventoryError, InventoryEvent, InventoryState, ReservationCommitted,
    Settlement, StockAdjusted, StockReceived, StockReleased, StockReserved,
};
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
