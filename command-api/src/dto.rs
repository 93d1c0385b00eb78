//! Request and response bodies. Requests use plain JSON types so a wrong
//! *type* is a 400 from the JSON parser, while a wrong *value* is a 422 that
//! names every field at fault (collected by [`Fields`]).

use chrono::{DateTime, Utc};
use orderflow_domain::limits::MAX_LINE_ITEMS;
use orderflow_domain::{
    Channel, Currency, CustomerId, LineItem, Money, NewItem, OrderCommand, OrderId, OrderState,
    PaymentId, RefundId, ShippingAddress, Sku, ValidationError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::{FieldError, Problem, ProblemKind};

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

impl From<AddressDto> for ShippingAddress {
    fn from(a: AddressDto) -> Self {
        ShippingAddress {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
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
    /// 1 to 10 000.
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
mod whole_number {
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

/// Collects every invalid field of a request before answering 422.
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn check<T>(&mut self, field: &str, value: Result<T, ValidationError>) -> Option<T> {
        match value {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e.code(), e.to_string());
                None
            }
        }
    }

    pub fn push(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    pub fn money(&mut self, field: &str, m: &MoneyDto) -> Option<Money> {
        let currency = self.check(&format!("{field}.currency"), Currency::new(&m.currency))?;
        Some(Money::new(m.amount_minor, currency))
    }

    /// Out-of-range quantities are the domain's to judge (and name); only
    /// values no `u32` can hold are refused here.
    pub fn quantity(&mut self, field: &str, q: i64) -> Option<u32> {
        match u32::try_from(q) {
            Ok(q) => Some(q),
            Err(_) => {
                self.push(
                    field,
                    "item.invalid_quantity",
                    format!("quantity {q} is outside 1..=10000"),
                );
                None
            }
        }
    }

    /// `Ok(value)` when no field was at fault, else the 422 problem.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Problem> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(Problem::new(
                ProblemKind::Validation,
                format!("{} field(s) are invalid", self.errors.len().max(1)),
            )
            .with_code("validation")
            .with_errors(self.errors)),
        }
    }
}

impl AddItemRequest {
    fn to_item(&self, fields: &mut Fields, prefix: &str) -> Option<NewItem> {
        let sku = fields.check(&format!("{prefix}sku"), Sku::new(self.sku.clone()));
        let quantity = fields.quantity(&format!("{prefix}quantity"), self.quantity);
        let unit_price = fields.money(&format!("{prefix}unit_price"), &self.unit_price);
        Some(NewItem {
            sku: sku?,
            name: self.name.clone(),
            quantity: quantity?,
            unit_price: unit_price?,
        })
    }

    /// Like [`AddItemRequest::to_item`], also running the item's own domain
    /// rules, so an invalid initial item is named by its index
    /// (`items[0].unit_price.amount_minor`). For `AddItem` the domain checks
    /// the same rules after the order's existence and status.
    fn to_checked_item(&self, fields: &mut Fields, prefix: &str) -> Option<NewItem> {
        let item = self.to_item(fields, prefix)?;
        match item.validate() {
            Ok(()) => Some(item),
            Err(e) => {
                let field = e.field().unwrap_or("item");
                fields.push(&format!("{prefix}{field}"), e.code(), e.to_string());
                None
            }
        }
    }

    pub fn command(&self) -> Result<OrderCommand, Problem> {
        let mut fields = Fields::default();
        let item = self.to_item(&mut fields, "");
        fields.finish(item.map(|i| OrderCommand::AddItem {
            sku: i.sku,
            name: i.name,
            quantity: i.quantity,
            unit_price: i.unit_price,
        }))
    }
}

impl CreateOrderRequest {
    pub fn command(&self, order_id: OrderId) -> Result<OrderCommand, Problem> {
        let mut fields = Fields::default();
        let customer_id = fields.check("customer_id", CustomerId::new(self.customer_id.clone()));
        let currency = fields.check("currency", Currency::new(&self.currency));
        let channel = match self.channel.as_deref() {
            None => Some(Channel::Unknown),
            Some(name) => {
                let channel = Channel::from_name(name);
                if channel.is_none() {
                    fields.push(
                        "channel",
                        "channel.invalid",
                        format!("channel {name:?} is not one of web, mobile, api, unknown"),
                    );
                }
                channel
            }
        };
        // The document caps the array at the number of lines an order may
        // hold; repeated skus would otherwise let a longer one through.
        if self.items.len() > MAX_LINE_ITEMS {
            fields.push(
                "items",
                "order.too_many_items",
                format!("at most {MAX_LINE_ITEMS} items"),
            );
        }
        let items: Vec<Option<NewItem>> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| item.to_checked_item(&mut fields, &format!("items[{i}].")))
            .collect();
        let command = (|| {
            Some(OrderCommand::CreateOrder {
                order_id,
                customer_id: customer_id?,
                currency: currency?,
                channel: channel?,
                items: items.into_iter().collect::<Option<Vec<_>>>()?,
                shipping_address: self.shipping_address.clone().map(Into::into),
            })
        })();
        fields.finish(command)
    }
}

impl PaymentRequest {
    pub fn command(&self) -> Result<OrderCommand, Problem> {
        let mut fields = Fields::default();
        let payment_id = fields.check("payment_id", PaymentId::new(self.payment_id.clone()));
        let amount = fields.money("amount", &self.amount);
        fields.finish(
            payment_id
                .zip(amount)
                .map(|(payment_id, amount)| OrderCommand::RecordPayment { payment_id, amount }),
        )
    }
}

impl RefundRequest {
    pub fn command(&self) -> Result<OrderCommand, Problem> {
        let mut fields = Fields::default();
        let refund_id = fields.check("refund_id", RefundId::new(self.refund_id.clone()));
        let amount = fields.money("amount", &self.amount);
        fields.finish(
            refund_id
                .zip(amount)
                .map(|(refund_id, amount)| OrderCommand::IssueRefund {
                    refund_id,
                    amount,
                    reason: self.reason.clone(),
                }),
        )
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
    pub actor: Option<String>,
    pub traceparent: Option<String>,
    pub idempotency_key: Option<String>,
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
