//! What the command handler needs to know about an aggregate: its stream,
//! its decider and the stored form of its events. One implementation per
//! aggregate of the domain, so the handler's loop (load → fold → decide →
//! append, retried on conflicts) exists once.

use std::fmt;
use std::hash::Hash;

use chrono::{DateTime, Utc};
use orderflow_domain::inventory::{self, InventoryCommand, InventoryEvent, InventoryState};
use orderflow_domain::{
    CustomerId, EventDecodeError, InventoryError, OrderCommand, OrderError, OrderEvent, OrderId,
    OrderState, Sku, ValidationError,
};
use serde_json::Value;

/// An aggregate as the handler runs it. The associated functions are thin
/// forwards to the domain; nothing here decides anything.
pub trait Aggregate: Send + Sync + 'static {
    /// Names one instance: an order id, a sku.
    type Id: Clone + Eq + Hash + fmt::Debug + fmt::Display + Send + Sync;
    type State: Clone + Default + fmt::Debug + Send + Sync;
    type Command: fmt::Debug + Send + Sync;
    type Event: fmt::Debug + Send + Sync;
    /// The domain's refusal.
    type Error: std::error::Error + Clone + Send + Sync + 'static;

    /// The instance's stream, `<category>-<id>`.
    fn stream_id(id: &Self::Id) -> String;
    /// The instance a stream id names (the idempotency store records
    /// streams, a replay needs the instance).
    fn id_from_stream(stream: &str) -> Result<Self::Id, ValidationError>;
    /// A number spreading instances over the handler's lock stripes.
    fn stripe(id: &Self::Id) -> u64;

    fn command_name(command: &Self::Command) -> &'static str;
    /// Whether the command creates the instance, so the handler may skip
    /// reading a stream that should not exist yet.
    fn creates(command: &Self::Command) -> bool;
    fn decide(
        state: &Self::State,
        command: &Self::Command,
        at: DateTime<Utc>,
    ) -> Result<Vec<Self::Event>, Self::Error>;
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;
    /// Events folded so far: the version to expect on append.
    fn version(state: &Self::State) -> u64;

    fn event_type(event: &Self::Event) -> &'static str;
    fn schema_version(event: &Self::Event) -> u32;
    fn payload(event: &Self::Event) -> Value;
    fn decode(
        event_type: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<Self::Event, EventDecodeError>;

    /// Whether a caller scoped to one customer (`owner`) may act on this
    /// instance; if not, the refusal it gets (for an order: the very one a
    /// missing order gets, so ids do not leak).
    fn check_owner(state: &Self::State, owner: &CustomerId) -> Result<(), Self::Error>;
}

/// The order aggregate (`order-<uuid>`).
#[derive(Debug, Clone, Copy)]
pub struct Order;

impl Aggregate for Order {
    type Id = OrderId;
    type State = OrderState;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;

    fn stream_id(id: &OrderId) -> String {
        id.stream_id()
    }
    fn id_from_stream(stream: &str) -> Result<OrderId, ValidationError> {
        OrderId::from_stream_id(stream)
    }
    fn stripe(id: &OrderId) -> u64 {
        // UUIDv7s end in random bits: their low 64 bits spread well.
        id.as_uuid().as_u128() as u64
    }
    fn command_name(command: &OrderCommand) -> &'static str {
        command.name()
    }
    fn creates(command: &OrderCommand) -> bool {
        matches!(command, OrderCommand::CreateOrder { .. })
    }
    fn decide(
        state: &OrderState,
        command: &OrderCommand,
        at: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        orderflow_domain::decide(state, command, at)
    }
    fn evolve(state: OrderState, event: &OrderEvent) -> OrderState {
        orderflow_domain::evolve(state, event)
    }
    fn version(state: &OrderState) -> u64 {
        state.version
    }
    fn event_type(event: &OrderEvent) -> &'static str {
        event.event_type()
    }
    fn schema_version(event: &OrderEvent) -> u32 {
        event.schema_version()
    }
    fn payload(event: &OrderEvent) -> Value {
        event.payload()
    }
    fn decode(
        event_type: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<OrderEvent, EventDecodeError> {
        OrderEvent::from_payload(event_type, schema_version, payload)
    }
    fn check_owner(state: &OrderState, owner: &CustomerId) -> Result<(), OrderError> {
        // A missing order has no owner: decide says what then.
        if state.customer_id.as_ref().is_none_or(|c| c == owner) {
            Ok(())
        } else {
            Err(OrderError::NotFound)
        }
    }
}

/// The stock of one sku (`product-<sku>`).
#[derive(Debug, Clone, Copy)]
pub struct Inventory;

impl Aggregate for Inventory {
    type Id = Sku;
    type State = InventoryState;
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Error = InventoryError;

    fn stream_id(id: &Sku) -> String {
        id.stream_id()
    }
    fn id_from_stream(stream: &str) -> Result<Sku, ValidationError> {
        Sku::from_stream_id(stream)
    }
    fn stripe(id: &Sku) -> u64 {
        // FNV-1a: stable and cheap; skus are short.
        id.as_str().bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }
    fn command_name(command: &InventoryCommand) -> &'static str {
        command.name()
    }
    fn creates(_: &InventoryCommand) -> bool {
        // A sku's stream starts with whatever comes first.
        false
    }
    fn decide(
        state: &InventoryState,
        command: &InventoryCommand,
        at: DateTime<Utc>,
    ) -> Result<Vec<InventoryEvent>, InventoryError> {
        inventory::decide(state, command, at)
    }
    fn evolve(state: InventoryState, event: &InventoryEvent) -> InventoryState {
        inventory::evolve(state, event)
    }
    fn version(state: &InventoryState) -> u64 {
        state.version
    }
    fn event_type(event: &InventoryEvent) -> &'static str {
        event.event_type()
    }
    fn schema_version(event: &InventoryEvent) -> u32 {
        event.schema_version()
    }
    fn payload(event: &InventoryEvent) -> Value {
        event.payload()
    }
    fn decode(
        event_type: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<InventoryEvent, EventDecodeError> {
        InventoryEvent::from_payload(event_type, schema_version, payload)
    }
    fn check_owner(_: &InventoryState, _: &CustomerId) -> Result<(), InventoryError> {
        // Stock has no owner: who may touch it at all is the access
        // table's call (staff only), made before any command runs.
        Ok(())
    }
}
