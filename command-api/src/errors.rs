//! How command failures map onto HTTP problems. 422 means the request is
//! wrong on its own; 409 means it is well-formed but the current state of
//! the order (or the stock) forbids it.

use orderflow_domain::{InventoryError, MoneyError, OrderError};
use orderflow_event_store::StoreError;

use crate::handler::CommandError;
use crate::problem::{FieldError, Problem, ProblemKind};

/// A domain's refusal of a command, as a problem.
pub(crate) trait Rejection {
    /// What the command was about, for messages: "the order", "the stock".
    const SUBJECT: &'static str;
    fn problem(&self) -> Problem;
}

impl Rejection for OrderError {
    const SUBJECT: &'static str = "the order";
    fn problem(&self) -> Problem {
        rejected(self)
    }
}

impl Rejection for InventoryError {
    const SUBJECT: &'static str = "the stock";
    fn problem(&self) -> Problem {
        let code = self.code();
        let kind = if self.is_conflict() {
            ProblemKind::BusinessRule
        } else {
            ProblemKind::Validation
        };
        let problem = Problem::new(kind, self.to_string()).with_code(code);
        match self.field() {
            Some(field) => problem.with_errors(vec![FieldError {
                field: field.to_owned(),
                code: code.to_owned(),
                message: self.to_string(),
            }]),
            None => problem,
        }
    }
}

/// Every command failure's problem: handlers answer with `?`.
impl<R: Rejection> From<CommandError<R>> for Problem {
    fn from(e: CommandError<R>) -> Problem {
        let subject = R::SUBJECT;
        match e {
            CommandError::Rejected(e) => e.problem(),
            CommandError::PreconditionFailed { expected, current } => Problem::new(
                ProblemKind::PreconditionFailed,
                format!("If-Match was \"{expected}\" but {subject} is at \"{current}\""),
            )
            .with_current_version(current),
            CommandError::IdempotencyKeyReused => Problem::new(
                ProblemKind::IdempotencyKeyReused,
                "this Idempotency-Key was first used with another method, path or body",
            ),
            CommandError::Contention(n) => Problem::new(
                ProblemKind::Contention,
                format!("{subject} changed under {n} attempts in a row"),
            ),
            CommandError::Store(StoreError::Unavailable(why)) => {
                tracing::warn!(error = %why, "event store unavailable");
                Problem::new(
                    ProblemKind::Unavailable,
                    "the event store cannot be reached; retry later",
                )
            }
            CommandError::Store(StoreError::Ambiguous(why)) => outcome_unknown(&why),
            CommandError::Store(StoreError::Rejected { reason }) => {
                // The store refused this request's own data (its batch
                // neighbours were committed); nothing of it was written.
                tracing::warn!(error = %reason, "event store refused the append");
                Problem::new(
                    ProblemKind::Validation,
                    "the event store refused a value of this request (for example a \
                 control character); nothing was written",
                )
                .with_code("store.rejected")
            }
            CommandError::Store(e) => internal(&e),
            CommandError::Decode(e) => internal(&e),
        }
    }
}

/// The commit may or may not have happened (unlike `unavailable`, which
/// promises that nothing was written).
fn outcome_unknown(why: &str) -> Problem {
    tracing::error!(error = %why, "append outcome unknown");
    Problem::new(
        ProblemKind::OutcomeUnknown,
        "the event store connection broke while committing and whether the change \
         was written is unknown; retry with the same Idempotency-Key",
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_refusals_are_409_or_422_and_name_their_field() {
        let p = Problem::from(CommandError::Rejected(InventoryError::BelowReserved {
            on_hand: 1,
            reserved: 2,
        }));
        assert_eq!(
            (p.0.status, p.0.code.as_str()),
            (409, "inventory.below_reserved")
        );
        assert_eq!(p.0.errors[0].field, "on_hand");
        let p = Problem::from(CommandError::Rejected(InventoryError::InvalidReason(
            orderflow_domain::Violation::Empty,
        )));
        assert_eq!((p.0.status, p.0.code.as_str()), (422, "reason.invalid"));
        let p = Problem::from(CommandError::<InventoryError>::PreconditionFailed {
            expected: 1,
            current: 2,
        });
        assert_eq!(p.0.status, 412);
        assert!(
            p.0.detail.contains("the stock is at \"2\""),
            "{}",
            p.0.detail
        );
    }

    #[test]
    fn store_refusals_are_422_and_lost_commits_a_distinct_503() {
        let p = Problem::from(CommandError::<OrderError>::Store(StoreError::Rejected {
            reason: "unsupported Unicode escape sequence (SQLSTATE 22P05)".into(),
        }));
        assert_eq!((p.0.status, p.0.code.as_str()), (422, "store.rejected"));
        assert!(
            !p.0.detail.contains("22P05"),
            "Postgres' text stays in the log"
        );

        let p = Problem::from(CommandError::<OrderError>::Store(StoreError::Ambiguous(
            "reset".into(),
        )));
        assert_eq!((p.0.status, p.0.code.as_str()), (503, "outcome-unknown"));
        assert_eq!(p.0.type_uri, "urn:orderflow:problem:outcome-unknown");
        let p = Problem::from(CommandError::<OrderError>::Store(StoreError::Unavailable(
            "down".into(),
        )));
        assert_eq!((p.0.status, p.0.code.as_str()), (503, "unavailable"));
    }
}
