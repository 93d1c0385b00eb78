//! The metrics every subscriber exports, all labelled `subscriber`. One
//! place for their names, so a dashboard works for any subscriber.

use std::time::Duration;

use orderflow_event_store::Position;

pub const LAG_EVENTS: &str = "orderflow_subscription_lag_events";
pub const LAG_SECONDS: &str = "orderflow_subscription_lag_seconds";
pub const POSITION: &str = "orderflow_subscription_position";
pub const EVENT_AGE_SECONDS: &str = "orderflow_subscription_event_age_seconds";
pub const EVENTS_TOTAL: &str = "orderflow_subscription_events_total";
pub const BATCH_SECONDS: &str = "orderflow_subscription_batch_seconds";
pub const DEAD_LETTERS_TOTAL: &str = "orderflow_subscription_dead_letters_total";
pub const STOPPED: &str = "orderflow_subscription_stopped";
pub const BACKING_OFF: &str = "orderflow_subscription_backing_off";
pub const OWNED: &str = "orderflow_subscription_owned";
pub const ERRORS_TOTAL: &str = "orderflow_subscription_errors_total";

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// Present (at zero) from the start, so alerts and dashboards see them.
pub(crate) fn register(name: &str) {
    metrics::counter!(DEAD_LETTERS_TOTAL, "subscriber" => name.to_owned()).increment(0);
    metrics::counter!(ERRORS_TOTAL, "subscriber" => name.to_owned()).increment(0);
    backing_off(name, false);
}

pub(crate) fn owned(name: &str, on: bool) {
    metrics::gauge!(OWNED, "subscriber" => name.to_owned()).set(flag(on));
}

pub(crate) fn stopped(name: &str, on: bool) {
    metrics::gauge!(STOPPED, "subscriber" => name.to_owned()).set(flag(on));
}

pub(crate) fn backing_off(name: &str, on: bool) {
    metrics::gauge!(BACKING_OFF, "subscriber" => name.to_owned()).set(flag(on));
}

pub(crate) fn error(name: &str) {
    metrics::counter!(ERRORS_TOTAL, "subscriber" => name.to_owned()).increment(1);
}

pub(crate) fn dead_letter(name: &str) {
    metrics::counter!(DEAD_LETTERS_TOTAL, "subscriber" => name.to_owned()).increment(1);
}

/// The lag gauges; `events` is counted up to [`STATUS_LAG_LIMIT`](crate::STATUS_LAG_LIMIT).
pub(crate) fn lag(name: &str, events: u64, seconds: f64) {
    metrics::gauge!(LAG_EVENTS, "subscriber" => name.to_owned()).set(events as f64);
    metrics::gauge!(LAG_SECONDS, "subscriber" => name.to_owned()).set(seconds);
}

/// One committed batch. The position gauge is the checkpoint's second half
/// (Postgres: the global sequence number): a progress rate for dashboards,
/// not comparable across stores.
pub(crate) fn batch(name: &str, events: usize, took: Duration, position: Position) {
    metrics::counter!(EVENTS_TOTAL, "subscriber" => name.to_owned()).increment(events as u64);
    metrics::histogram!(BATCH_SECONDS, "subscriber" => name.to_owned()).record(took.as_secs_f64());
    metrics::gauge!(POSITION, "subscriber" => name.to_owned()).set(position.minor() as f64);
}

/// Time from an event's commit in the store to its batch's commit here.
pub(crate) fn event_age(name: &str, seconds: f64) {
    metrics::histogram!(EVENT_AGE_SECONDS, "subscriber" => name.to_owned()).record(seconds);
}
