//! Paging of an order's event history: `?after=<stream version>&limit=`.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use orderflow_domain::limits::MAX_EVENTS_PER_ORDER;
use serde::Deserialize;

use crate::problem::{FieldError, Problem, ProblemKind};

/// Events per page when `limit` is left out.
pub const DEFAULT_EVENTS_PAGE: u32 = 100;
/// Largest `limit`: the cap of events per order, so one page can hold a
/// whole history.
pub const MAX_EVENTS_PAGE: u32 = {
    assert!(MAX_EVENTS_PER_ORDER <= u32::MAX as u64);
    // The assertion above makes the cast exact.
    MAX_EVENTS_PER_ORDER as u32
};

/// The page asked for: events with a stream version above `after`, at most
/// `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsPage {
    pub after: u64,
    pub limit: u32,
}

/// Raw text, so a bad number is a problem naming the parameter rather than
/// the extractor's plain-text rejection.
#[derive(Debug, Deserialize)]
struct RawPage {
    after: Option<String>,
    limit: Option<String>,
}

impl EventsPage {
    fn parse(after: Option<&str>, limit: Option<&str>) -> Result<EventsPage, Problem> {
        let mut errors = Vec::new();
        // The document says int64 from 0: a stream version Postgres can hold.
        let parsed = after.map(|a| a.parse::<i64>().ok().and_then(|v| u64::try_from(v).ok()));
        let after = match parsed {
            None => Some(0),
            Some(Some(v)) => Some(v),
            Some(None) => {
                errors.push(param_error("after", "a stream version (0 or more)"));
                None
            }
        };
        let limit = match limit.map(str::parse::<u32>) {
            None => Some(DEFAULT_EVENTS_PAGE),
            Some(Ok(v)) if (1..=MAX_EVENTS_PAGE).contains(&v) => Some(v),
            Some(_) => {
                errors.push(param_error(
                    "limit",
                    &format!("a number from 1 to {MAX_EVENTS_PAGE}"),
                ));
                None
            }
        };
        match (after, limit) {
            (Some(after), Some(limit)) => Ok(EventsPage { after, limit }),
            _ => Err(Problem::new(
                ProblemKind::InvalidRequest,
                format!("{} query parameter(s) are invalid", errors.len()),
            )
            .with_errors(errors)),
        }
    }
}

fn param_error(name: &str, expected: &str) -> FieldError {
    FieldError {
        field: name.to_owned(),
        code: "query.invalid".to_owned(),
        message: format!("{name} must be {expected}"),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for EventsPage {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<RawPage>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::new(ProblemKind::InvalidRequest, e.body_text()))?;
        EventsPage::parse(raw.after.as_deref(), raw.limit.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            EventsPage::parse(None, None).ok(),
            Some(EventsPage {
                after: 0,
                limit: DEFAULT_EVENTS_PAGE
            })
        );
        assert_eq!(
            EventsPage::parse(Some("7"), Some("1000")).ok(),
            Some(EventsPage {
                after: 7,
                limit: 1000
            })
        );
        for (after, limit) in [
            (Some("-1"), None),
            (Some("x"), None),
            // One past i64::MAX, the documented maximum (found by the fuzz).
            (Some("9223372036854775808"), None),
            (None, Some("0")),
            (None, Some("1001")),
            (None, Some("")),
        ] {
            let err = EventsPage::parse(after, limit).err();
            assert_eq!(
                err.map(|p| p.details().status),
                Some(400),
                "{after:?} {limit:?}"
            );
        }
    }
}
