//! `Money`: integer minor units and a currency, never floats.
//!
//! Sums across orders (per customer, day or product) are `numeric` in the
//! read models and can pass 64 bits. `amountMinor` stays a `Long`: an amount
//! beyond it is a field error with code `AMOUNT_OUT_OF_RANGE` (never a
//! clamped number), while `formatted` shows any amount exactly.

use async_graphql::{ErrorExtensions, Object};
use orderflow_domain::Currency;

use super::scalars::Long;

/// The error code of an amount (or count) that does not fit a `Long`.
pub const OUT_OF_RANGE: &str = "AMOUNT_OUT_OF_RANGE";

#[derive(Debug, Clone)]
pub struct Money {
    pub amount_minor: i128,
    pub currency: String,
}

impl Money {
    pub fn new(amount_minor: impl Into<i128>, currency: &str) -> Money {
        Money {
            amount_minor: amount_minor.into(),
            currency: currency.to_owned(),
        }
    }
}

/// `n` as a `Long`, or a field error naming `field` with [`OUT_OF_RANGE`].
pub fn long(n: impl Into<i128>, field: &str) -> async_graphql::Result<Long> {
    let n = n.into();
    i64::try_from(n).map(Long).map_err(|_| {
        async_graphql::Error::new(format!(
            "{field} is {n}, beyond a Long (64 bits); `formatted` shows it exactly"
        ))
        .extend_with(|_, e| e.set("code", OUT_OF_RANGE))
    })
}

/// Any amount exactly, with the currency's minor-unit digits.
fn format_exact(amount: i128, digits: u32, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs} {currency}");
    }
    let scale = 10u128.pow(digits);
    let width = digits as usize;
    format!("{sign}{}.{:0width$} {currency}", abs / scale, abs % scale)
}

/// An amount of money.
#[Object]
impl Money {
    /// The amount in the currency's minor unit (cents for EUR, yen for JPY).
    // A sum across orders beyond 64 bits is an error with code
    // AMOUNT_OUT_OF_RANGE (see the module docs).
    async fn amount_minor(&self) -> async_graphql::Result<Long> {
        long(self.amount_minor, "amountMinor")
    }

    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.currency
    }

    /// For people: `"12.34 EUR"`, `"1234 JPY"`.
    async fn formatted(&self) -> String {
        match Currency::new(&self.currency) {
            Ok(c) => format_exact(self.amount_minor, c.minor_unit_digits(), &self.currency),
            // Stored codes are validated on the write side; never guess
            // decimals for one that is not.
            Err(_) => format!("{} {}", self.amount_minor, self.currency),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_domain_and_beyond_i64() {
        for n in [0i64, 5, -5, 1234, i64::MIN, i64::MAX] {
            let domain = orderflow_domain::Money::new(n, Currency::EUR).format();
            assert_eq!(format_exact(i128::from(n), 2, "EUR"), domain);
        }
        assert_eq!(
            format_exact(1i128 << 63, 2, "EUR"),
            "92233720368547758.08 EUR"
        );
        assert_eq!(
            format_exact(1i128 << 63, 0, "JPY"),
            "9223372036854775808 JPY"
        );
    }
}
