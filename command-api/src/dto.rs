//! Request and response bodies. Requests use plain JSON types so a wrong
//! *type* is a 400 from the JSON parser, while a wrong *value* is a 422 that
//! names every field at fault (see [`crate::commands`], which turns them
//! into domain commands).

use chrono::{DateTime, Utc};
use orderflow_domain::{LineItem, Money, OrderState, ShippingAddress};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount in minor units (cents) of an ISO 4217 currency. Never a float.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyDto {
    #[schema(example = 1299)]
    #[serde(deserialize_with = "whole_number::deserialize")]
    pub amount_minor: i64,
    #[schema(example = "EUR")]
    pub currency: String,
}

impl From<Money> for MoneyDto {
    fn from(m: Money) -> Self {
        MoneyDto {
            amount_minor: m.amount_minor,
            currency: m.currency.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressDto {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    pub country: String,
}

impl From<ShippingAddress> for AddressDto {
    fn from(a: ShippingAddress) -> Self {
        AddressDto {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

/// `POST /orders/{id}/items`, and each item of `POST /orders`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItemRequest {
    #[schema(example = "SKU-1")]
    pub sku: String,
    #[schema(example = "Water bottle")]
    pub name: String,
    /// How many; the bounds are the schema's `minimum` and `maximum`.
    #[schema(example = 2)]
    #[serde(deserialize_with = "whole_number::deserialize")]
    pub quantity: i64,
    pub unit_price: MoneyDto,
}

/// `POST /orders`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    #[schema(example = "customer-42")]
    pub customer_id: String,
    #[schema(example = "EUR")]
    pub currency: String,
    #[serde(default)]
    pub items: Vec<AddItemRequest>,
    #[serde(default)]
    pub shipping_address: Option<AddressDto>,
    /// Where the order is placed: `web`, `mobile`, `api` (an integration
    /// calling on its own behalf) or `unknown`. Left out, it is `unknown`:
    /// web and mobile clients call this API too, so the API cannot tell.
    #[serde(default)]
    #[schema(value_type = Option<ChannelDto>, example = "web")]
    pub channel: Option<String>,
}

/// The sales channel of `POST /orders` (a plain string in the body, so an
/// unknown value is a 422 naming the field rather than a parse error).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelDto {
    Web,
    Mobile,
    Api,
    Unknown,
}

/// `PATCH /orders/{id}/items/{sku}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeQuantityRequest {
    #[serde(deserialize_with = "whole_number::deserialize")]
    pub quantity: i64,
}

/// `/reject` and `/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

/// `POST /orders/{id}/payments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub payment_id: String,
    /// Must equal the order total.
    pub amount: MoneyDto,
}

/// `POST /orders/{id}/ship`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipRequest {
    pub carrier: String,
    pub tracking_number: String,
}

/// `POST /orders/{id}/refunds`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub refund_id: String,
    pub amount: MoneyDto,
    pub reason: String,
}

/// JSON integers as JSON Schema reads them: `3` and `3.0` are the same
/// integer (a client's JSON library may write either); `3.5` is not one.
pub(crate) mod whole_number {
    use serde::{Deserialize, Deserializer, de::Error};

    /// Largest magnitude an `f64` holds exactly: beyond it `3.0`-style
    /// numbers may not be the integer the client meant.
    const EXACT: f64 = 9_007_199_254_740_992.0;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        if let Some(n) = number.as_i64() {
            return Ok(n);
        }
        match number.as_f64() {
            // The range check makes the cast exact.
            #[allow(clippy::cast_possible_truncation)]
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => Ok(f as i64),
            _ => Err(D::Error::custom(format!(
                "invalid value: {number}, expected an integer within i64"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineItemView {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price: MoneyDto,
    pub line_total: MoneyDto,
}

/// The write-side state of an order, folded from its events.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub customer_id: String,
    /// `draft`, `submitted`, `confirmed`, `paid`, `shipped`, `delivered`,
    /// `cancelled` or `rejected`.
    pub status: String,
    pub currency: String,
    pub items: Vec<LineItemView>,
    pub shipping_address: Option<AddressDto>,
    pub total: MoneyDto,
    pub paid: MoneyDto,
    pub refunded: MoneyDto,
    /// Still to be refunded after cancelling a paid order.
    pub refund_owed: MoneyDto,
    pub payment_id: Option<String>,
    pub refund_ids: Vec<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub cancellation_reason: Option<String>,
    pub rejection_reason: Option<String>,
    pub placed_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The stream version; also the `ETag`.
    pub version: u64,
}

impl OrderView {
    /// `None` for an order that does not exist (no events).
    pub fn from_state(s: &OrderState) -> Option<OrderView> {
        let currency = s.currency?;
        let money = |amount_minor: i64| MoneyDto::from(Money::new(amount_minor, currency));
        let item = |i: &LineItem| LineItemView {
            sku: i.sku.as_str().to_owned(),
            name: i.name.clone(),
            quantity: i.quantity,
            unit_price: i.unit_price.into(),
            line_total: money(i.line_total().map_or(i64::MAX, |m| m.amount_minor)),
        };
        Some(OrderView {
            id: s.id?.as_uuid().to_string(),
            customer_id: s.customer_id.as_ref()?.as_str().to_owned(),
            status: s.status?.as_str().to_owned(),
            currency: currency.as_str().to_owned(),
            items: s.items.iter().map(item).collect(),
            shipping_address: s.shipping_address.clone().map(Into::into),
            total: money(s.total_minor()),
            paid: money(s.paid_minor),
            refunded: money(s.refunded_minor),
            refund_owed: money(s.refund_owed_minor),
            payment_id: s.payment_id.as_ref().map(|p| p.as_str().to_owned()),
            refund_ids: s.refund_ids.iter().map(|r| r.as_str().to_owned()).collect(),
            carrier: s.carrier.clone(),
            tracking_number: s.tracking_number.clone(),
            cancellation_reason: s.cancellation_reason.clone(),
            rejection_reason: s.rejection_reason.clone(),
            placed_at: s.placed_at,
            submitted_at: s.submitted_at,
            confirmed_at: s.confirmed_at,
            paid_at: s.paid_at,
            shipped_at: s.shipped_at,
            delivered_at: s.delivered_at,
            cancelled_at: s.cancelled_at,
            rejected_at: s.rejected_at,
            updated_at: s.updated_at,
            version: s.version,
        })
    }
}

/// Metadata stored with an event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventMetadataView {
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    /// The subject of the token that caused the event.
    pub actor: Option<String>,
    /// That token's orderflow roles.
    pub actor_roles: Vec<String>,
    /// The OAuth client of that token (`azp`), for service tokens.
    pub actor_client_id: Option<String>,
    pub traceparent: Option<String>,
    // The Idempotency-Key is not shown: it is the caller's secret-ish
    // handle on its retries, not part of the audit trail.
}

/// One entry of an order's audit trail.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub stream_version: u64,
    /// Position token in the global log.
    pub position: String,
    pub recorded_at: DateTime<Utc>,
    /// The payload in its newest schema.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub metadata: EventMetadataView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventHistory {
    pub order_id: String,
    pub version: u64,
    pub events: Vec<EventView>,
}
