//! The fulfilment process manager (saga) as a pure decision: one instance
//! per order, event-sourced in its own stream `fulfilment-<order>`.
//!
//! `decide(&state, input)` says which instance events follow from an input
//! (an order event, the outcome of a command the instance issued, a fired
//! deadline); `evolve` folds them. The commands to issue are a function of
//! the state ([`outstanding`]): a command stays outstanding until its
//! outcome is recorded, so a process that crashed between deciding and
//! acting simply issues it again on the next input, under the same
//! deterministic id ([`Command::id`]), which the receiving aggregate or the
//! idempotency store recognises.
//!
//! ```text
//! submitted ─► Reserving ─all reserved─► Confirming ─OrderConfirmed─► AwaitingPayment ─paid─► Paid ─shipped─► Shipped (commit)
//!                 │ any refused                                            │ deadline fired
//!                 ▼                                                        ▼
//!             Rejecting (release + RejectOrder)                        TimedOut (CancelOrder)
//!                 │ OrderRejected                                          │ OrderCancelled
//!                 ▼                                                        ▼
//!             Rejected (release)                                       Cancelled (release, refund if paid)
//! ```

mod codec;
mod decide;
mod event;
mod input;
mod state;
mod step;

pub use codec::{SCHEMA_VERSIONS, current_schema_version, payload_schema};
pub use decide::{Decision, decide, outstanding};
pub use event::{EVENT_TYPES as FULFILMENT_EVENT_TYPES, FulfilmentDecodeError, FulfilmentEvent};
pub use input::{Input, Line, OrderStep, Outcome};
pub use state::{DeadlineKind, FulfilmentState, LineState, Phase, Refund, Stock, evolve, fold};
pub use step::{
    CancelOrder, Command, CommitStock, ConfirmOrder, NoCompensation, RecordRefund, RejectOrder,
    ReleaseStock, RequestRefund, ReserveStock, Step, deterministic_id,
};

/// Stream category of fulfilment instances: `fulfilment-<order uuid>`.
pub const FULFILMENT_CATEGORY: &str = "fulfilment";

/// The reason a refused reservation rejects an order with (followed by
/// the SKUs), and the one a payment timeout cancels it with.
pub const OUT_OF_STOCK: &str = "out_of_stock";
/// See [`OUT_OF_STOCK`].
pub const PAYMENT_TIMEOUT: &str = "payment_timeout";

/// The instance stream of an order.
pub fn stream_id(order: crate::OrderId) -> String {
    format!("{FULFILMENT_CATEGORY}-{}", order.as_uuid().hyphenated())
}
