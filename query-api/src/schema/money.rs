//! `Money`: integer minor units and a currency, never floats.

use async_graphql::Object;
use orderflow_domain::Currency;

use super::scalars::Long;

#[derive(Debug, Clone)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

impl Money {
    pub fn new(amount_minor: i64, currency: &str) -> Money {
        Money {
            amount_minor,
            currency: currency.to_owned(),
        }
    }
}

/// An amount of money.
#[Object]
impl Money {
    /// The amount in the currency's minor unit (cents for EUR, yen for JPY).
    async fn amount_minor(&self) -> Long {
        Long(self.amount_minor)
    }

    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.currency
    }

    /// For people: `"12.34 EUR"`, `"1234 JPY"`.
    async fn formatted(&self) -> String {
        match Currency::new(&self.currency) {
            Ok(c) => orderflow_domain::Money::new(self.amount_minor, c).format(),
            // Stored codes are validated on the write side; never guess
            // decimals for one that is not.
            Err(_) => format!("{} {}", self.amount_minor, self.currency),
        }
    }
}
