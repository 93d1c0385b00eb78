//! What the templates show, as display-ready text: formatting stays in
//! Rust, templates only lay it out (and escape it).

use askama::Template;

#[derive(Debug, Clone, Default)]
pub(crate) struct RebuildView {
    pub state: String,
    /// 0–100, when the total is known.
    pub percent: u32,
    pub has_percent: bool,
    pub events: String,
    pub requested: String,
    /// "no progress reported for 2 min", or an error.
    pub note: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SubscriberView {
    pub name: String,
    pub kind: &'static str,
    pub position: String,
    pub head: String,
    pub lag_events: String,
    pub lag_seconds: String,
    pub state: String,
    /// CSS class of the state: ok, warn, bad.
    pub state_class: &'static str,
    pub last_error: String,
    pub dead_letters: i64,
    pub spark_points: String,
    pub spark_max: u64,
    pub has_rebuild: bool,
    pub rebuild: RebuildView,
    pub can_rebuild: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct FactView {
    pub label: String,
    pub value: String,
    pub class: &'static str,
    pub note: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct StuckView {
    pub order_id: String,
    pub phase: String,
    pub last_event: String,
    pub since: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ActionView {
    pub at: String,
    pub actor: String,
    /// `console` or `cli`.
    pub via: String,
    pub action: String,
    pub subscriber: String,
    pub detail: String,
}

/// The part of the overview the live feed replaces.
#[derive(Debug, Clone, Default)]
pub(crate) struct OverviewView {
    pub generated_at: String,
    pub subscribers: Vec<SubscriberView>,
    pub facts: Vec<FactView>,
    pub stuck: Vec<StuckView>,
    pub actions: Vec<ActionView>,
    /// Sources that could not be read this time.
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/live.html")]
pub(crate) struct LiveFragment<'a> {
    pub view: &'a OverviewView,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DeadLetterRowView {
    pub id: i64,
    pub subscriber: String,
    pub position: String,
    pub stream_id: String,
    pub event_type: String,
    pub error: String,
    pub attempts: i32,
    pub at: String,
    pub resolution: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DeadLettersView {
    pub subscriber: String,
    pub all: bool,
    pub rows: Vec<DeadLetterRowView>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub prev: String,
    pub next: String,
    pub subscribers: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DeadLetterView {
    pub id: i64,
    pub subscriber: String,
    pub position: String,
    pub event_id: String,
    pub stream_id: String,
    pub order_link: String,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: String,
    pub payload_note: String,
    pub error: String,
    pub attempts: i32,
    pub total_attempts: i64,
    pub first_failed_at: String,
    pub last_failed_at: String,
    pub resolution: String,
    pub open: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TimelineEntryView {
    pub version: u64,
    pub at: String,
    pub event_type: String,
    pub actor: String,
    pub correlation_id: String,
    pub trace_id: String,
    pub payload: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct OrderView {
    pub order_id: String,
    pub events: Vec<TimelineEntryView>,
    pub steps: Vec<TimelineEntryView>,
    pub steps_note: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ConfirmView {
    pub action: String,
    pub subscriber: String,
    pub explanation: String,
}
