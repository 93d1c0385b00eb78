//! The provider client's metrics, described once per process.

use std::sync::Once;
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use crate::breaker::BreakerState;

pub const BREAKER_STATE: &str = "orderflow_payment_provider_breaker_state";
pub const CALLS: &str = "orderflow_payment_provider_calls_total";
pub const CALL_DURATION: &str = "orderflow_payment_provider_call_duration_seconds";

/// How one call (one attempt, or one refusal by the breaker) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Error,
    Timeout,
    CircuitOpen,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::CircuitOpen => "circuit_open",
        }
    }
}

pub(crate) fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Every outcome's series from the start, at zero.
        for outcome in [
            Outcome::Ok,
            Outcome::Error,
            Outcome::Timeout,
            Outcome::CircuitOpen,
        ] {
            metrics::counter!(CALLS, "outcome" => outcome.as_str()).increment(0);
        }
        describe_gauge!(
            BREAKER_STATE,
            "The payment provider circuit breaker: 1 for the current state (closed, open, half_open), 0 for the others"
        );
        describe_counter!(
            CALLS,
            "Calls to the payment provider by outcome: ok, error (error answer or no connection), timeout, circuit_open (refused by the open breaker, never sent)"
        );
        describe_histogram!(
            CALL_DURATION,
            Unit::Seconds,
            "Duration of each call that reached out to the payment provider (every attempt)"
        );
    });
}

pub(crate) fn call(outcome: Outcome, took: Option<Duration>) {
    metrics::counter!(CALLS, "outcome" => outcome.as_str()).increment(1);
    if let Some(took) = took {
        metrics::histogram!(CALL_DURATION).record(took.as_secs_f64());
    }
}

pub(crate) fn breaker_state(current: BreakerState) {
    for state in BreakerState::ALL {
        let value = if state == current { 1.0 } else { 0.0 };
        metrics::gauge!(BREAKER_STATE, "state" => state.as_str()).set(value);
    }
}
