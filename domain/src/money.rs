//! Money as integer minor units plus an ISO 4217 currency. Never floats:
//! every operation is checked and reports overflow instead of wrapping.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::limits::MAX_AMOUNT_MINOR;
use crate::validation::{ValidationError, Violation};

/// An ISO 4217 currency code: exactly three ASCII uppercase letters.
///
/// Only the shape is checked, not membership in the ISO list, so new codes
/// need no release. Stored inline so `Currency` and [`Money`] are `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency(*b"JPY");

    /// Validates and builds a currency code.
    pub fn new(code: &str) -> Result<Self, ValidationError> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(ValidationError::Currency(Violation::Format {
                expected: "an ISO 4217 code of 3 uppercase letters",
            })),
        }
    }

    /// The code, e.g. `"EUR"`.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII by construction, so this never takes the
        // fallback; it only avoids a panic path.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of digits after the decimal point in the minor unit, per ISO
    /// 4217 (2 unless listed).
    pub fn minor_unit_digits(&self) -> u32 {
        match &self.0 {
            b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG"
            | b"RWF" | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
            b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
            b"CLF" | b"UYW" => 4,
            _ => 2,
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Currency").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Currency {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl TryFrom<&str> for Currency {
    type Error = ValidationError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> Cow<'static, str> {
        "Currency".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "description": "ISO 4217 currency code"
        })
    }
}

/// Why a money operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// The result does not fit in an `i64` of minor units.
    #[error("amount out of range")]
    Overflow,
    /// The two amounts are in different currencies.
    #[error("currency mismatch: expected {expected}, found {found}")]
    CurrencyMismatch {
        /// The currency required (left operand, or the order's currency).
        expected: Currency,
        /// The currency given.
        found: Currency,
    },
    /// A negative amount where only zero or more makes sense.
    #[error("amount must not be negative")]
    Negative,
    /// Above [`MAX_AMOUNT_MINOR`], the ceiling of prices, totals, payments
    /// and refunds.
    #[error("amount must be at most {max} minor units")]
    AboveCeiling {
        /// The ceiling, [`MAX_AMOUNT_MINOR`].
        max: i64,
    },
}

impl MoneyError {
    /// Stable machine-readable code, e.g. `money.overflow`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Overflow => "money.overflow",
            Self::CurrencyMismatch { .. } => "money.currency_mismatch",
            Self::Negative => "money.negative",
            Self::AboveCeiling { .. } => "money.above_ceiling",
        }
    }
}

/// An amount in minor units (cents for EUR, yen for JPY) of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    /// Amount in the currency's minor unit; may be negative in general, the
    /// order rules decide where that is allowed.
    pub amount_minor: i64,
    /// The currency of the amount.
    pub currency: Currency,
}

impl Money {
    /// An amount of minor units.
    pub const fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// `amount < 0`.
    pub const fn is_negative(&self) -> bool {
        self.amount_minor < 0
    }

    /// `amount == 0`.
    pub const fn is_zero(&self) -> bool {
        self.amount_minor == 0
    }

    /// `self + other`, same currency only.
    pub fn add(&self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self - other`, same currency only.
    pub fn sub(&self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self
            .amount_minor
            .checked_sub(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self × quantity`.
    pub fn mul(&self, quantity: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount_minor
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Ok when the currencies are equal, otherwise a mismatch naming
    /// `self`'s currency as the expected one.
    pub fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                found: other.currency,
            })
        }
    }

    /// Ok when the amount is zero or more.
    pub fn ensure_non_negative(&self) -> Result<(), MoneyError> {
        if self.is_negative() {
            Err(MoneyError::Negative)
        } else {
            Ok(())
        }
    }

    /// Ok when the amount is at most [`MAX_AMOUNT_MINOR`].
    pub fn ensure_within_ceiling(&self) -> Result<(), MoneyError> {
        if self.amount_minor > MAX_AMOUNT_MINOR {
            Err(MoneyError::AboveCeiling {
                max: MAX_AMOUNT_MINOR,
            })
        } else {
            Ok(())
        }
    }

    /// Human-readable amount with the currency's decimal places, e.g.
    /// `"12.34 EUR"`, `"-0.05 USD"`, `"1234 JPY"`.
    pub fn format(&self) -> String {
        let digits = self.currency.minor_unit_digits();
        let sign = if self.is_negative() { "-" } else { "" };
        // unsigned_abs keeps i64::MIN representable.
        let abs = self.amount_minor.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(digits);
        let width = digits as usize;
        format!(
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    #[test]
    fn currency_accepts_three_uppercase_letters_only() {
        assert_eq!(
            Currency::new("EUR").map(|c| c.to_string()),
            Ok("EUR".into())
        );
        for bad in ["", "EU", "EURO", "eur", "EU1", "ÉUR", "E R"] {
            let err = Currency::new(bad).err();
            assert_eq!(err.map(|e| e.code()), Some("currency.invalid"), "{bad:?}");
        }
        assert_eq!("USD".parse::<Currency>(), Ok(Currency::USD));
    }

    #[test]
    fn currency_serde_validates() {
        assert_eq!(
            serde_json::to_string(&Currency::EUR).ok(),
            Some("\"EUR\"".into())
        );
        assert!(serde_json::from_str::<Currency>("\"eur\"").is_err());
        assert_eq!(
            serde_json::from_str::<Currency>("\"GBP\"").ok(),
            Some(Currency::GBP)
        );
        assert_eq!(format!("{:?}", Currency::GBP), "Currency(\"GBP\")");
    }

    #[test]
    fn minor_unit_digits() {
        assert_eq!(Currency::EUR.minor_unit_digits(), 2);
        assert_eq!(Currency::JPY.minor_unit_digits(), 0);
        assert_eq!(Currency::new("KRW").map(|c| c.minor_unit_digits()), Ok(0));
        assert_eq!(Currency::new("KWD").map(|c| c.minor_unit_digits()), Ok(3));
        assert_eq!(Currency::new("CLF").map(|c| c.minor_unit_digits()), Ok(4));
    }

    #[test]
    fn format_uses_minor_unit_digits() {
        assert_eq!(eur(1234).format(), "12.34 EUR");
        assert_eq!(eur(5).format(), "0.05 EUR");
        assert_eq!(eur(-5).format(), "-0.05 EUR");
        assert_eq!(eur(0).format(), "0.00 EUR");
        assert_eq!(Money::new(1234, Currency::JPY).to_string(), "1234 JPY");
        let kwd = Currency::new("KWD").map(|c| Money::new(1_005, c).format());
        assert_eq!(kwd.as_deref(), Ok("1.005 KWD"));
        assert_eq!(eur(i64::MIN).format(), "-92233720368547758.08 EUR");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(eur(100).add(eur(23)), Ok(eur(123)));
        assert_eq!(eur(100).sub(eur(123)), Ok(eur(-23)));
        assert_eq!(eur(250).mul(3), Ok(eur(750)));
        assert_eq!(eur(i64::MAX).add(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MIN).sub(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MAX / 2).mul(3), Err(MoneyError::Overflow));
        let mismatch = eur(1).add(Money::new(1, Currency::USD));
        assert_eq!(
            mismatch,
            Err(MoneyError::CurrencyMismatch {
                expected: Currency::EUR,
                found: Currency::USD
            })
        );
        assert_eq!(
            mismatch.map_err(|e| e.code()),
            Err("money.currency_mismatch")
        );
        assert_eq!(eur(-1).ensure_non_negative(), Err(MoneyError::Negative));
    }

    #[test]
    fn the_ceiling_is_inclusive_and_keeps_lines_in_i64() {
        assert_eq!(eur(MAX_AMOUNT_MINOR).ensure_within_ceiling(), Ok(()));
        let above = eur(MAX_AMOUNT_MINOR + 1).ensure_within_ceiling();
        assert_eq!(
            above,
            Err(MoneyError::AboveCeiling {
                max: MAX_AMOUNT_MINOR
            })
        );
        assert_eq!(above.map_err(|e| e.code()), Err("money.above_ceiling"));
        // A line at the ceiling price and the largest quantity fits.
        let line = eur(MAX_AMOUNT_MINOR).mul(crate::limits::MAX_QUANTITY);
        assert!(line.is_ok(), "{line:?}");
    }

    #[test]
    fn money_json_shape() {
        let json = serde_json::to_value(eur(1234)).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({"amount_minor": 1234, "currency": "EUR"}))
        );
    }

    proptest! {
        #[test]
        fn add_matches_wide_arithmetic(a in any::<i64>(), b in any::<i64>()) {
            let wide = i128::from(a) + i128::from(b);
            match eur(a).add(eur(b)) {
                Ok(sum) => prop_assert_eq!(i128::from(sum.amount_minor), wide),
                Err(e) => {
                    prop_assert_eq!(e, MoneyError::Overflow);
                    prop_assert!(i64::try_from(wide).is_err());
                }
            }
        }

        #[test]
        fn mul_matches_wide_arithmetic(a in any::<i64>(), q in any::<u32>()) {
            let wide = i128::from(a) * i128::from(q);
            match eur(a).mul(q) {
                Ok(p) => prop_assert_eq!(i128::from(p.amount_minor), wide),
                Err(_) => prop_assert!(i64::try_from(wide).is_err()),
            }
        }

        #[test]
        fn within_ceiling_exactly_up_to_the_ceiling(a in any::<i64>()) {
            let ok = eur(a).ensure_within_ceiling().is_ok();
            prop_assert_eq!(ok, a <= MAX_AMOUNT_MINOR);
        }

        #[test]
        fn format_round_trips_digits(a in any::<i64>()) {
            let text = eur(a).format();
            let number = text.trim_end_matches(" EUR").replace('.', "");
            prop_assert_eq!(number.parse::<i128>().ok(), Some(i128::from(a)));
        }
    }
}
