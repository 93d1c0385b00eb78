//! Errors for values that are validated when they are built (ids, currency,
//! address), plus the small text checks shared by every module.

use thiserror::Error;

/// What is wrong with a piece of text or a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Violation {
    /// Empty or only whitespace.
    #[error("must not be empty")]
    Empty,
    /// Longer than the limit, counted in characters.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit that was exceeded.
        max: usize,
    },
    /// Contains a control character (newline, NUL, ...).
    #[error("must not contain control characters")]
    ControlCharacter,
    /// Contains a character outside the allowed set.
    #[error("may only contain {allowed}")]
    InvalidCharacter {
        /// Human-readable description of the allowed characters.
        allowed: &'static str,
    },
    /// Does not have the required shape.
    #[error("must be {expected}")]
    Format {
        /// Human-readable description of the expected shape.
        expected: &'static str,
    },
}

/// A value object could not be built from its raw input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// Not an ISO 4217 currency code.
    #[error("currency {0}")]
    Currency(Violation),
    /// Not a UUID or not an `order-<uuid>` stream id.
    #[error("order id {0}")]
    OrderId(Violation),
    /// Customer id rule broken.
    #[error("customer id {0}")]
    CustomerId(Violation),
    /// Sku rule broken.
    #[error("sku {0}")]
    Sku(Violation),
    /// Payment id rule broken.
    #[error("payment id {0}")]
    PaymentId(Violation),
    /// Refund id rule broken.
    #[error("refund id {0}")]
    RefundId(Violation),
    /// One field of a shipping address is invalid.
    #[error("shipping address {field} {violation}")]
    Address {
        /// The address field at fault (`name`, `line1`, `line2`, `city`, `postal_code`, `country`).
        field: &'static str,
        /// What is wrong with it.
        violation: Violation,
    },
}

impl ValidationError {
    /// Stable machine-readable code, e.g. `sku.invalid`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Currency(_) => "currency.invalid",
            Self::OrderId(_) => "order.invalid_id",
            Self::CustomerId(_) => "customer.invalid",
            Self::Sku(_) => "sku.invalid",
            Self::PaymentId(_) => "payment.invalid_id",
            Self::RefundId(_) => "refund.invalid_id",
            Self::Address { .. } => "address.invalid",
        }
    }

    /// The input field at fault. For addresses this is the field inside the
    /// address object (e.g. `postal_code`); the caller knows where the
    /// address sits in its request.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Currency(_) => "currency",
            Self::OrderId(_) => "order_id",
            Self::CustomerId(_) => "customer_id",
            Self::Sku(_) => "sku",
            Self::PaymentId(_) => "payment_id",
            Self::RefundId(_) => "refund_id",
            Self::Address { field, .. } => field,
        }
    }

    /// What exactly is wrong.
    pub fn violation(&self) -> Violation {
        match self {
            Self::Currency(v)
            | Self::OrderId(v)
            | Self::CustomerId(v)
            | Self::Sku(v)
            | Self::PaymentId(v)
            | Self::RefundId(v)
            | Self::Address { violation: v, .. } => *v,
        }
    }
}

/// Which control characters a piece of free text may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Names, ids, address fields, carrier, tracking number: one line, no
    /// control character at all (they end up in labels, logs and URLs).
    Line,
    /// Reasons: may span lines, so line feed, carriage return and tab are
    /// allowed; every other control character is not.
    Lines,
}

impl TextKind {
    fn allows(self, c: char) -> bool {
        !c.is_control() || (self == TextKind::Lines && matches!(c, '\n' | '\r' | '\t'))
    }
}

/// The one check of every free-text field: not blank, at most `max`
/// characters, and no control character beyond what `kind` allows. NUL in
/// particular never gets through: Postgres cannot store it in `jsonb`, so
/// it would fail the append (and the batch) instead of the request.
pub fn check_text(value: &str, max: usize, kind: TextKind) -> Result<(), Violation> {
    if value.trim().is_empty() {
        return Err(Violation::Empty);
    }
    if value.chars().count() > max {
        return Err(Violation::TooLong { max });
    }
    if !value.chars().all(|c| kind.allows(c)) {
        return Err(Violation::ControlCharacter);
    }
    Ok(())
}

/// [`check_text`] for single-line text.
pub(crate) fn check_line(value: &str, max: usize) -> Result<(), Violation> {
    check_text(value, max, TextKind::Line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        use TextKind::{Line, Lines};
        assert_eq!(check_text("  ", 5, Lines), Err(Violation::Empty));
        assert_eq!(
            check_text("abcdef", 5, Lines),
            Err(Violation::TooLong { max: 5 })
        );
        assert_eq!(check_text("a\nb\r\n\tc", 10, Lines), Ok(()));
        assert_eq!(check_line("a\nb", 5), Err(Violation::ControlCharacter));
        // Length counts characters, not bytes.
        assert_eq!(check_line("ééééé", 5), Ok(()));
        // NUL and the other C0/C1 controls and DEL, in either kind.
        for bad in ["x\0y", "\u{1b}[31m", "a\u{7f}", "a\u{85}b", "a\u{9f}"] {
            for kind in [Line, Lines] {
                assert_eq!(
                    check_text(bad, 10, kind),
                    Err(Violation::ControlCharacter),
                    "{bad:?} {kind:?}"
                );
            }
        }
    }

    #[test]
    fn messages_read_naturally() {
        let err = ValidationError::Sku(Violation::TooLong { max: 64 });
        assert_eq!(err.to_string(), "sku must be at most 64 characters");
        assert_eq!(err.code(), "sku.invalid");
        assert_eq!(err.field(), "sku");
    }
}
