//! Every request → domain command conversion of the API, in one place.
//! Values are judged by the domain (its constructors, `validate` and
//! [`orderflow_domain::limits`]); here they are only collected, so that one
//! 422 names every field at fault.

use orderflow_domain::limits::{MAX_LINE_ITEMS, MAX_QUANTITY, MIN_QUANTITY};
use orderflow_domain::{
    Channel, Currency, CustomerId, Money, NewItem, OrderCommand, OrderId, PaymentId, RefundId,
    ShippingAddress, Sku, ValidationError,
};

use crate::dto::{
    AddItemRequest, AddressDto, ChangeQuantityRequest, CreateOrderRequest, MoneyDto,
    PaymentRequest, ReasonRequest, RefundRequest, ShipRequest,
};
use crate::problem::{FieldError, Problem, ProblemKind};

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

/// Collects every invalid field of a request before answering 422.
#[derive(Debug, Default)]
pub(crate) struct Fields {
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
                    format!("quantity {q} is outside {MIN_QUANTITY}..={MAX_QUANTITY}"),
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

impl ChangeQuantityRequest {
    pub fn command(&self, sku: Sku) -> Result<OrderCommand, Problem> {
        let mut fields = Fields::default();
        let quantity = fields.quantity("quantity", self.quantity);
        fields.finish(quantity.map(|quantity| OrderCommand::ChangeItemQuantity { sku, quantity }))
    }
}

impl AddressDto {
    pub fn command(&self) -> OrderCommand {
        OrderCommand::SetShippingAddress {
            address: self.clone().into(),
        }
    }
}

impl ReasonRequest {
    pub fn reject(&self) -> OrderCommand {
        OrderCommand::RejectOrder {
            reason: self.reason.clone(),
        }
    }

    pub fn cancel(&self) -> OrderCommand {
        OrderCommand::CancelOrder {
            reason: self.reason.clone(),
        }
    }
}

impl ShipRequest {
    pub fn command(&self) -> OrderCommand {
        OrderCommand::ShipOrder {
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
        }
    }
}

/// The sku in an item's path; one that cannot be a sku names no item.
pub fn sku_from_path(raw: &str) -> Result<Sku, Problem> {
    Sku::new(raw.to_owned()).map_err(|e| {
        Problem::new(
            ProblemKind::NotFound,
            format!("no item {raw:?} on this order: {e}"),
        )
        .with_code("item.not_found")
    })
}
