//! Identifiers. Order ids are UUIDs (v7, minted outside the domain); the
//! string ids are validated when built and when deserialized, so a value of
//! these types is always well-formed.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::MAX_ID_LEN;
use crate::validation::{ValidationError, Violation, check_line};

/// Stream category of orders: streams are named `order-<uuid>`.
pub const ORDER_CATEGORY: &str = "order";

/// Stream category of a sku's stock: streams are named `product-<sku>`.
/// A sku may itself hold `-`; the category is the part before the first.
pub const PRODUCT_CATEGORY: &str = "product";

/// Identifies an order and, through [`OrderId::stream_id`], its stream.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct OrderId(pub Uuid);

impl OrderId {
    /// Wraps a UUID (normally a v7 minted by the caller).
    pub const fn new(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The wrapped UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The event stream of this order: `order-<uuid>`.
    pub fn stream_id(&self) -> String {
        format!("{ORDER_CATEGORY}-{}", self.0.hyphenated())
    }

    /// Parses a stream id produced by [`OrderId::stream_id`]. Only the
    /// canonical lowercase hyphenated form is accepted, so one order can never
    /// map to two differently spelled streams.
    pub fn from_stream_id(stream_id: &str) -> Result<Self, ValidationError> {
        const EXPECTED: Violation = Violation::Format {
            expected: "a stream id of the form order-<lowercase hyphenated uuid>",
        };
        let rest = stream_id
            .strip_prefix(ORDER_CATEGORY)
            .and_then(|r| r.strip_prefix('-'))
            .ok_or(ValidationError::OrderId(EXPECTED))?;
        let uuid = Uuid::try_parse(rest).map_err(|_| ValidationError::OrderId(EXPECTED))?;
        if uuid.hyphenated().to_string() != rest {
            return Err(ValidationError::OrderId(EXPECTED));
        }
        Ok(Self(uuid))
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for OrderId {
    type Err = ValidationError;
    /// Parses a bare UUID (any form `uuid` accepts), e.g. from a URL path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| ValidationError::OrderId(Violation::Format { expected: "a UUID" }))
    }
}

impl From<Uuid> for OrderId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl From<OrderId> for Uuid {
    fn from(value: OrderId) -> Self {
        value.0
    }
}

/// Defines a validated string newtype with the usual conversions. The
/// validator decides what is accepted; everything else is shared.
macro_rules! string_id {
    (
        $(#[$meta:meta])*
        $name:ident, validate = $validate:path, schema = { $($schema:tt)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps the value.
            pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value = value.into();
                $validate(&value)?;
                Ok(Self(value))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The owned text.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ $($schema)* })
            }
        }
    };
}

string_id! {
    /// The customer who placed an order: 1..=64 characters, no control
    /// characters, not blank.
    CustomerId,
    validate = validate_customer_id,
    schema = {
        "description": "Customer id",
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LEN
    }
}

string_id! {
    /// Stock keeping unit: 1..=64 characters of `[A-Za-z0-9._-]`, so it is
    /// safe in URLs and in `product-<sku>` stream ids.
    Sku,
    validate = validate_sku,
    schema = {
        "description": "Stock keeping unit",
        "type": "string",
        "pattern": "^[A-Za-z0-9._-]{1,64}$"
    }
}

string_id! {
    /// A payment provider's reference: 1..=64 characters, no control
    /// characters, not blank.
    PaymentId,
    validate = validate_payment_id,
    schema = {
        "description": "Payment reference",
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LEN
    }
}

string_id! {
    /// A refund's reference, unique per order: 1..=64 characters, no control
    /// characters, not blank.
    RefundId,
    validate = validate_refund_id,
    schema = {
        "description": "Refund reference, unique per order",
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LEN
    }
}

impl Sku {
    /// The stream of this sku's stock: `product-<sku>`. Always a valid
    /// stream id: at most 72 printable ASCII characters.
    pub fn stream_id(&self) -> String {
        format!("{PRODUCT_CATEGORY}-{}", self.0)
    }

    /// Parses a stream id produced by [`Sku::stream_id`].
    pub fn from_stream_id(stream_id: &str) -> Result<Self, ValidationError> {
        let rest = stream_id
            .strip_prefix(PRODUCT_CATEGORY)
            .and_then(|r| r.strip_prefix('-'))
            .ok_or(ValidationError::Sku(Violation::Format {
                expected: "a stream id of the form product-<sku>",
            }))?;
        Self::new(rest)
    }
}

fn validate_customer_id(value: &str) -> Result<(), ValidationError> {
    check_line(value, MAX_ID_LEN).map_err(ValidationError::CustomerId)
}

fn validate_payment_id(value: &str) -> Result<(), ValidationError> {
    check_line(value, MAX_ID_LEN).map_err(ValidationError::PaymentId)
}

fn validate_refund_id(value: &str) -> Result<(), ValidationError> {
    check_line(value, MAX_ID_LEN).map_err(ValidationError::RefundId)
}

fn validate_sku(value: &str) -> Result<(), ValidationError> {
    let violation = if value.is_empty() {
        Violation::Empty
    } else if value.chars().count() > MAX_ID_LEN {
        Violation::TooLong { max: MAX_ID_LEN }
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Violation::InvalidCharacter {
            allowed: "letters A-Z a-z, digits, '.', '_' and '-'",
        }
    } else {
        return Ok(());
    };
    Err(ValidationError::Sku(violation))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "01890a5d-ac96-774b-bcce-b302099a8057";

    fn order_id() -> Result<OrderId, ValidationError> {
        UUID.parse()
    }

    #[test]
    fn stream_id_round_trips() {
        let id = order_id();
        let stream = id.clone().map(|id| id.stream_id());
        assert_eq!(
            stream.as_deref(),
            Ok("order-01890a5d-ac96-774b-bcce-b302099a8057")
        );
        assert_eq!(stream.and_then(|s| OrderId::from_stream_id(&s)), id);
    }

    #[test]
    fn stream_id_must_be_canonical() {
        for bad in [
            "order-",
            "order01890a5d-ac96-774b-bcce-b302099a8057",
            "product-01890a5d-ac96-774b-bcce-b302099a8057",
            "order-01890A5D-AC96-774B-BCCE-B302099A8057",
            "order-01890a5dac96774bbcceb302099a8057",
            "order-01890a5d-ac96-774b-bcce-b302099a8057-x",
        ] {
            let err = OrderId::from_stream_id(bad).err().map(|e| e.code());
            assert_eq!(err, Some("order.invalid_id"), "{bad}");
        }
    }

    #[test]
    fn order_id_serializes_as_plain_uuid() {
        let json = order_id()
            .ok()
            .and_then(|id| serde_json::to_string(&id).ok());
        assert_eq!(json, Some(format!("\"{UUID}\"")));
    }

    #[test]
    fn customer_id_rules() {
        assert!(CustomerId::new("cust-42").is_ok());
        assert!(CustomerId::new("Jürgen Müller").is_ok());
        assert!(CustomerId::new("x".repeat(64)).is_ok());
        for bad in [
            String::new(),
            "  ".into(),
            "x".repeat(65),
            "a\nb".into(),
            "\0".into(),
        ] {
            let code = CustomerId::new(bad.clone()).err().map(|e| e.code());
            assert_eq!(code, Some("customer.invalid"), "{bad:?}");
        }
    }

    #[test]
    fn sku_rules() {
        assert!(Sku::new("ABC-123_x.y").is_ok());
        assert!(Sku::new("s".repeat(64)).is_ok());
        for bad in [
            String::new(),
            "s".repeat(65),
            "a b".into(),
            "ä".into(),
            "a/b".into(),
        ] {
            let code = Sku::new(bad.clone()).err().map(|e| e.code());
            assert_eq!(code, Some("sku.invalid"), "{bad:?}");
        }
    }

    #[test]
    fn sku_stream_id_round_trips_with_dashes_inside() {
        let sku = Sku::new("ABC-12-x.y").ok();
        let stream = sku.as_ref().map(Sku::stream_id);
        assert_eq!(stream.as_deref(), Some("product-ABC-12-x.y"));
        assert_eq!(stream.map(|s| Sku::from_stream_id(&s).ok()), Some(sku));
        for bad in [
            "product-",
            "product",
            "productABC",
            "order-ABC",
            "product-a b",
        ] {
            let err = Sku::from_stream_id(bad).err().map(|e| e.code());
            assert_eq!(err, Some("sku.invalid"), "{bad}");
        }
    }

    #[test]
    fn payment_and_refund_id_rules() {
        assert!(PaymentId::new("pay_1").is_ok());
        assert!(RefundId::new("ref 1").is_ok());
        assert_eq!(
            PaymentId::new("").err().map(|e| e.code()),
            Some("payment.invalid_id")
        );
        assert_eq!(
            RefundId::new("x".repeat(65)).err().map(|e| e.code()),
            Some("refund.invalid_id")
        );
    }

    #[test]
    fn schemas_state_the_same_limits() {
        let schema = |s: Schema| serde_json::to_value(s).ok();
        let sku = schema(Sku::json_schema(&mut SchemaGenerator::default()));
        let pattern = format!("^[A-Za-z0-9._-]{{1,{MAX_ID_LEN}}}$");
        assert_eq!(sku.as_ref().map(|s| &s["pattern"]), Some(&pattern.into()));
        let customer = schema(CustomerId::json_schema(&mut SchemaGenerator::default()));
        assert_eq!(
            customer.map(|s| s["maxLength"].clone()),
            Some(MAX_ID_LEN.into())
        );
    }

    #[test]
    fn deserialize_validates() {
        assert!(serde_json::from_str::<Sku>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<Sku>("\"not ok\"").is_err());
        assert!(serde_json::from_str::<CustomerId>("\"\"").is_err());
        assert_eq!(
            serde_json::to_string(&Sku::new("A1").ok()).ok().as_deref(),
            Some("\"A1\"")
        );
    }
}
