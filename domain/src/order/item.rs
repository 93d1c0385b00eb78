//! Order lines.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::Sku;
use crate::limits::{MAX_ITEM_NAME_LEN, MAX_QUANTITY, MIN_QUANTITY};
use crate::money::{Money, MoneyError};
use crate::order::error::OrderError;
use crate::validation::check_line;

/// One line of an order: a sku at a unit price. A sku appears at most once;
/// adding it again raises the quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    /// What is ordered.
    pub sku: Sku,
    /// Display name at the time it was added.
    #[schemars(length(min = 1, max = MAX_ITEM_NAME_LEN))]
    pub name: String,
    /// How many, within `MIN_QUANTITY..=MAX_QUANTITY`.
    #[schemars(range(min = MIN_QUANTITY, max = MAX_QUANTITY))]
    pub quantity: u32,
    /// Price of one unit, in the order's currency.
    pub unit_price: Money,
}

impl LineItem {
    /// `unit_price × quantity`, checked.
    pub fn line_total(&self) -> Result<Money, MoneyError> {
        self.unit_price.mul(self.quantity)
    }
}

/// An item given with `CreateOrder`; becomes a [`LineItem`] through the
/// same rules as `AddItem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NewItem {
    /// What is ordered.
    pub sku: Sku,
    /// Display name.
    #[schemars(length(min = 1, max = MAX_ITEM_NAME_LEN))]
    pub name: String,
    /// How many.
    #[schemars(range(min = MIN_QUANTITY, max = MAX_QUANTITY))]
    pub quantity: u32,
    /// Price of one unit, in the order's currency.
    pub unit_price: Money,
}

impl NewItem {
    /// The item's own rules, before it meets an order: name, quantity, and a
    /// unit price between zero and the ceiling. `decide` runs this for
    /// `AddItem` and for every item of `CreateOrder`; callers may run it
    /// early to name the item at fault (the error's field is the item's).
    pub fn validate(&self) -> Result<(), OrderError> {
        check_item(&self.name, self.quantity, self.unit_price)
    }
}

/// [`NewItem::validate`] on borrowed parts, for `AddItem`.
pub(crate) fn check_item(name: &str, quantity: u32, unit_price: Money) -> Result<(), OrderError> {
    check_line(name, MAX_ITEM_NAME_LEN).map_err(OrderError::InvalidName)?;
    check_quantity(u64::from(quantity))?;
    let price_error = |error| OrderError::Money {
        error,
        field: Some("unit_price.amount_minor"),
    };
    unit_price.ensure_non_negative().map_err(price_error)?;
    unit_price.ensure_within_ceiling().map_err(price_error)
}

/// A line's quantity, or the sum after adding to a line (hence `u64`).
pub(crate) fn check_quantity(quantity: u64) -> Result<(), OrderError> {
    if (u64::from(MIN_QUANTITY)..=u64::from(MAX_QUANTITY)).contains(&quantity) {
        Ok(())
    } else {
        Err(OrderError::InvalidQuantity {
            quantity,
            min: MIN_QUANTITY,
            max: MAX_QUANTITY,
        })
    }
}

impl From<NewItem> for LineItem {
    fn from(item: NewItem) -> Self {
        Self {
            sku: item.sku,
            name: item.name,
            quantity: item.quantity,
            unit_price: item.unit_price,
        }
    }
}
