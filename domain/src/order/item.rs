//! Order lines.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::Sku;
use crate::limits::{MAX_ITEM_NAME_LEN, MAX_QUANTITY, MIN_QUANTITY};
use crate::money::{Money, MoneyError};

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
