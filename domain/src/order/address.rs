//! Where an order goes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits::MAX_ADDRESS_FIELD_LEN;
use crate::validation::{ValidationError, Violation, check_line};

/// A postal address. Fields are plain so callers can build it literally;
/// `validate` checks it, and `decide` refuses an invalid one with
/// `address.invalid` naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShippingAddress {
    /// Recipient.
    #[schemars(length(min = 1, max = MAX_ADDRESS_FIELD_LEN))]
    pub name: String,
    /// Street and number.
    #[schemars(length(min = 1, max = MAX_ADDRESS_FIELD_LEN))]
    pub line1: String,
    /// Optional second line; when present it must not be blank.
    #[schemars(length(min = 1, max = MAX_ADDRESS_FIELD_LEN))]
    pub line2: Option<String>,
    /// City or town.
    #[schemars(length(min = 1, max = MAX_ADDRESS_FIELD_LEN))]
    pub city: String,
    /// Postal code, free-form since formats differ by country.
    #[schemars(length(min = 1, max = MAX_ADDRESS_FIELD_LEN))]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `DE`.
    #[schemars(pattern("^[A-Z]{2}$"))]
    pub country: String,
}

impl ShippingAddress {
    /// Checks every field; the error names the first one at fault.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let line = |field: &'static str, value: &str| {
            check_line(value, MAX_ADDRESS_FIELD_LEN)
                .map_err(|violation| ValidationError::Address { field, violation })
        };
        line("name", &self.name)?;
        line("line1", &self.line1)?;
        if let Some(line2) = &self.line2 {
            line("line2", line2)?;
        }
        line("city", &self.city)?;
        line("postal_code", &self.postal_code)?;
        if !(self.country.len() == 2 && self.country.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(ValidationError::Address {
                field: "country",
                violation: Violation::Format {
                    expected: "an ISO 3166-1 alpha-2 code of 2 uppercase letters",
                },
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> ShippingAddress {
        ShippingAddress {
            name: "Ada Lovelace".into(),
            line1: "12 St James's Square".into(),
            line2: None,
            city: "London".into(),
            postal_code: "SW1Y 4JH".into(),
            country: "GB".into(),
        }
    }

    fn field_at_fault(edit: impl FnOnce(&mut ShippingAddress)) -> Option<&'static str> {
        let mut a = address();
        edit(&mut a);
        a.validate().err().map(|e| {
            assert_eq!(e.code(), "address.invalid");
            e.field()
        })
    }

    #[test]
    fn valid_address() {
        assert_eq!(address().validate(), Ok(()));
        assert_eq!(field_at_fault(|a| a.line2 = Some("Flat 2".into())), None);
    }

    #[test]
    fn each_field_is_checked() {
        assert_eq!(field_at_fault(|a| a.name = " ".into()), Some("name"));
        assert_eq!(field_at_fault(|a| a.line1 = "x".repeat(201)), Some("line1"));
        assert_eq!(
            field_at_fault(|a| a.line2 = Some(String::new())),
            Some("line2")
        );
        assert_eq!(field_at_fault(|a| a.city = "a\tb".into()), Some("city"));
        assert_eq!(
            field_at_fault(|a| a.postal_code = String::new()),
            Some("postal_code")
        );
        for bad in ["gb", "GBR", "G", "", "É1"] {
            assert_eq!(field_at_fault(|a| a.country = bad.into()), Some("country"));
        }
    }
}
