//! Every business limit of the domain in one place, so the REST layer, the
//! JSON Schemas and the tests can quote the same numbers.
//!
//! String lengths count Unicode scalar values (`str::chars`), which is also
//! what JSON Schema's `maxLength` counts.

/// Maximum number of distinct lines (skus) on one order.
pub const MAX_LINE_ITEMS: usize = 100;

/// Smallest quantity a line may hold; removing a line is its own command.
pub const MIN_QUANTITY: u32 = 1;

/// Largest quantity a line may hold, also after adding to an existing line.
pub const MAX_QUANTITY: u32 = 10_000;

/// Maximum length of an item's display name.
pub const MAX_ITEM_NAME_LEN: usize = 200;

/// Maximum length of every shipping address field.
pub const MAX_ADDRESS_FIELD_LEN: usize = 200;

/// Maximum length of a cancellation, rejection or refund reason.
pub const MAX_REASON_LEN: usize = 500;

/// Maximum length of a shipment's carrier name.
pub const MAX_CARRIER_LEN: usize = 100;

/// Maximum length of a shipment's tracking number.
pub const MAX_TRACKING_NUMBER_LEN: usize = 100;

/// Maximum length of customer ids, skus, payment ids and refund ids.
pub const MAX_ID_LEN: usize = 64;

/// Ceiling of every amount a command carries (unit prices, payments,
/// refunds) and of an order's total, in minor units: 10^13, i.e. 100 billion
/// in a two-decimal currency. Far above any real order, and far below
/// `i64::MAX` (about 9.2 × 10^18): a line (price × at most
/// [`MAX_QUANTITY`]) and a total always fit in `i64`, and the read models,
/// which sum totals across many orders, sum in `numeric` with room to spare.
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

/// Most events one order's stream may hold. Every uncached command reads the
/// whole stream, so the stream must stay small; a command that would go
/// beyond is refused with `order.too_many_events` (409).
pub const MAX_EVENTS_PER_ORDER: u64 = 1_000;

/// Draft edits (items, address) stop this many events short of
/// [`MAX_EVENTS_PER_ORDER`], so an order edited to the limit can still be
/// submitted, paid, shipped, cancelled and refunded.
pub const EVENTS_RESERVED_AFTER_DRAFT: u64 = 100;

/// Ceiling of a sku's units on hand (and so of a receipt, a counted stock
/// and what is reserved). Far above any real warehouse bin, and within a
/// GraphQL `Int` (a signed 32-bit number), so every read model and every
/// API can hold the counts as they are.
pub const MAX_STOCK: u32 = 1_000_000_000;

/// Largest quantity one order may reserve of one sku: what one order line
/// may hold.
pub const MAX_RESERVATION: u32 = MAX_QUANTITY;
