//! How command failures map onto HTTP problems. 422 means the request is
//! wrong on its own; 409 means it is well-formed but the order's current
//! state forbids it.

use orderflow_domain::{MoneyError, OrderError};
use orderflow_event_store::StoreError;

use crate::handler::CommandError;
use crate::problem::{FieldError, Problem, ProblemKind};

pub fn command_problem(e: CommandError) -> Problem {
    match e {
        CommandError::Rejected(e) => rejected(&e),
        CommandError::PreconditionFailed { expected, current } => Problem::new(
            ProblemKind::PreconditionFailed,
            format!("If-Match was \"{expected}\" but the order is at \"{current}\""),
        )
        .with_current_version(current),
        CommandError::IdempotencyKeyReused => Problem::new(
            ProblemKind::IdempotencyKeyReused,
            "this Idempotency-Key was first used with another method, path or body",
        ),
        CommandError::Contention(n) => Problem::new(
            ProblemKind::Contention,
            format!("the order changed under {n} attempts in a row"),
        ),
        CommandError::Store(StoreError::Unavailable(why)) => {
            tracing::warn!(error = %why, "event store unavailable");
            Problem::new(
                ProblemKind::Unavailable,
                "the event store cannot be reached; retry later",
            )
        }
        CommandError::Store(e) => internal(&e),
        CommandError::Decode(e) => internal(&e),
    }
}

fn internal(e: &dyn std::fmt::Display) -> Problem {
    // Details go to the log (with the correlation id), not to the client.
    tracing::error!(error = %e, "command failed");
    Problem::new(
        ProblemKind::Internal,
        "internal error; see the server log for this correlation id",
    )
}

/// Domain rejections: the rule's code is the problem's `code`.
fn rejected(e: &OrderError) -> Problem {
    let code = e.code();
    let kind = match e {
        OrderError::NotFound | OrderError::ItemNotFound { .. } => ProblemKind::NotFound,
        OrderError::InvalidQuantity { .. }
        | OrderError::InvalidName(_)
        | OrderError::RefundInvalidAmount { .. }
        | OrderError::InvalidReason(_)
        | OrderError::InvalidShipment { .. }
        | OrderError::Invalid(_)
        | OrderError::Money {
            error: MoneyError::Negative | MoneyError::Overflow | MoneyError::AboveCeiling { .. },
            ..
        } => ProblemKind::Validation,
        OrderError::AlreadyExists
        | OrderError::NotDraft { .. }
        | OrderError::InvalidTransition { .. }
        | OrderError::Empty
        | OrderError::MissingShippingAddress
        | OrderError::TooManyItems { .. }
        | OrderError::PriceMismatch { .. }
        | OrderError::Money {
            error: MoneyError::CurrencyMismatch { .. },
            ..
        }
        | OrderError::PaymentAmountMismatch { .. }
        | OrderError::RefundNotAllowed
        | OrderError::RefundExceedsPaid { .. }
        | OrderError::RefundDuplicate { .. }
        | OrderError::TooManyEvents { .. }
        | OrderError::LineQuantityExceeded { .. }
        | OrderError::TotalAboveCeiling { .. } => ProblemKind::BusinessRule,
    };
    let problem = Problem::new(kind, e.to_string()).with_code(code);
    if let Some(field) = e.field() {
        let field = match e {
            OrderError::Invalid(orderflow_domain::ValidationError::Address { field, .. }) => {
                format!("shipping_address.{field}")
            }
            _ => field.to_owned(),
        };
        return problem.with_errors(vec![FieldError {
            field,
            code: code.to_owned(),
            message: e.to_string(),
        }]);
    }
    problem
}
