//! The HELP text of every orderflow series, described once when the
//! recorder is installed, so `/metrics` explains each series it shows
//! (the payment provider's client describes its own, `payments/`). The
//! texts follow the metric tables of docs/operations.md;
//! `tests/observability/metrics.rs` fails on a series without one.

use metrics::{describe_counter, describe_gauge, describe_histogram};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

const DESCRIPTIONS: &[(&str, Kind, &str)] = &[
    (
        "orderflow_http_requests_total",
        Kind::Counter,
        "Requests answered; `route` is the matched template (`/orders/{id}`), `unmatched` for unknown paths",
    ),
    (
        "orderflow_http_request_duration_seconds",
        Kind::Histogram,
        "Request latency, from the router to the response",
    ),
    (
        "orderflow_http_panics_total",
        Kind::Counter,
        "Handler panics turned into 500 problems",
    ),
    (
        "orderflow_rate_limited_total",
        Kind::Counter,
        "Requests refused with 429 by the rate limiter; the limiter sits outside the other layers, so these are not in `orderflow_http_requests_total`",
    ),
    (
        "orderflow_rate_limit_keys",
        Kind::Gauge,
        "Callers (subjects and addresses) the rate limiter remembers, after its last eviction of idle ones",
    ),
    (
        "orderflow_commands_total",
        Kind::Counter,
        "Commands by outcome",
    ),
    (
        "orderflow_command_conflict_retries_total",
        Kind::Counter,
        "Version conflicts retried by the command handler",
    ),
    (
        "orderflow_idempotency_claims_lost_total",
        Kind::Counter,
        "Requests whose `Idempotency-Key` a racing twin claimed in the store between look-up and append (answered with the twin's response)",
    ),
    (
        "orderflow_idempotency_keys_expired_total",
        Kind::Counter,
        "Expired `Idempotency-Key` records deleted by the command API's background cleanup (every `IDEMPOTENCY_CLEANUP_INTERVAL`, in batches of 500; expired keys are ignored before that anyway)",
    ),
    (
        "orderflow_events_appended_total",
        Kind::Counter,
        "Events committed by the Postgres store",
    ),
    (
        "orderflow_store_batch_size",
        Kind::Histogram,
        "Appends per group commit (one transaction)",
    ),
    (
        "orderflow_store_batch_seconds",
        Kind::Histogram,
        "Time of one group-commit transaction",
    ),
    (
        "orderflow_store_batch_retries_total",
        Kind::Counter,
        "Group commits rolled back and retried after a collision inside the batch (e.g. two appends claiming the same stream version), a deadlock or a serialization failure",
    ),
    (
        "orderflow_store_batch_splits_total",
        Kind::Counter,
        "Group commits split in two because Postgres refused some append's data (the refused one then fails alone)",
    ),
    (
        "orderflow_store_appends_rejected_total",
        Kind::Counter,
        "Appends Postgres refused for their own data (answered 422 `store.rejected`)",
    ),
    (
        "orderflow_store_commits_in_doubt_total",
        Kind::Counter,
        "COMMITs whose connection broke before the answer; each is settled by asking Postgres for the transaction's status (503 `outcome-unknown` only when that fails for 5 s)",
    ),
    (
        "orderflow_relay_leader",
        Kind::Gauge,
        "1 while this process holds the relay lock and publishes, 0 on standby",
    ),
    (
        "orderflow_relay_lag_seconds",
        Kind::Gauge,
        "Age of the oldest event not yet published, measured at each read (0 when caught up)",
    ),
    (
        "orderflow_relay_event_age_seconds",
        Kind::Histogram,
        "Time from an event's commit to JetStream's ack of it",
    ),
    (
        "orderflow_relay_published_total",
        Kind::Counter,
        "Events published and acked",
    ),
    (
        "orderflow_relay_batch_seconds",
        Kind::Histogram,
        "One read-publish-ack-checkpoint round",
    ),
    (
        "orderflow_relay_errors_total",
        Kind::Counter,
        "Rounds that failed (NATS down, …) and backed off",
    ),
    (
        "orderflow_relay_duplicates_total",
        Kind::Counter,
        "Events published again (after a restart from an older checkpoint) that JetStream dropped as duplicates",
    ),
    (
        "orderflow_store_watermark_age_seconds",
        Kind::Gauge,
        "Age of the oldest transaction in the Postgres cluster holding an xid, measured each second by the relay leader: nothing committed after it reaches the relay, the projectors or read-your-writes until it ends (needs superuser or `pg_read_all_stats` to see other roles' sessions)",
    ),
    (
        "orderflow_subscription_lag_events",
        Kind::Gauge,
        "Committed events the subscriber has not handled (refreshed every second; counted up to 10 000)",
    ),
    (
        "orderflow_subscription_lag_seconds",
        Kind::Gauge,
        "Age of the oldest event not yet handled (0 when caught up)",
    ),
    (
        "orderflow_subscription_position",
        Kind::Gauge,
        "The checkpoint's second half (Postgres: the global sequence number); its rate is progress",
    ),
    (
        "orderflow_subscription_event_age_seconds",
        Kind::Histogram,
        "Time from an event's commit in the store to its batch's commit",
    ),
    (
        "orderflow_subscription_events_total",
        Kind::Counter,
        "Events handled",
    ),
    (
        "orderflow_subscription_batch_seconds",
        Kind::Histogram,
        "One batch transaction",
    ),
    (
        "orderflow_subscription_dead_letters_total",
        Kind::Counter,
        "Events dead-lettered by this process (each stops its subscriber)",
    ),
    (
        "orderflow_subscription_stopped",
        Kind::Gauge,
        "1 while the subscriber is stopped on a dead letter",
    ),
    (
        "orderflow_subscription_backing_off",
        Kind::Gauge,
        "1 while this process backs off from a transient error (state `backing off`)",
    ),
    (
        "orderflow_subscription_owned",
        Kind::Gauge,
        "1 while this process owns the subscriber (its lease, an advisory lock)",
    ),
    (
        "orderflow_subscription_errors_total",
        Kind::Counter,
        "Transient failures that made the subscriber back off (connection, serialization, deadlock, store away)",
    ),
    (
        "orderflow_fulfilment_instances",
        Kind::Gauge,
        "Instances per phase (every `scheduler_interval`)",
    ),
    (
        "orderflow_fulfilment_stuck_instances",
        Kind::Gauge,
        "Instances in reserving/confirming/rejecting/timed_out without progress for `SAGA_STUCK_AFTER`",
    ),
    (
        "orderflow_fulfilment_acting",
        Kind::Gauge,
        "Order events whose instance is acting or has acted, not yet past the checkpoint (up to 16 act at once; the rest wait their turn)",
    ),
    (
        "orderflow_fulfilment_deadline_lag_seconds",
        Kind::Histogram,
        "How late a deadline fired after it came due",
    ),
    (
        "orderflow_fulfilment_deadlines_fired_total",
        Kind::Counter,
        "Deadlines fired",
    ),
    (
        "orderflow_fulfilment_commands_total",
        Kind::Counter,
        "Commands issued (repeats included: they are replays)",
    ),
    (
        "orderflow_fulfilment_events_total",
        Kind::Counter,
        "Instance events appended",
    ),
    (
        "orderflow_query_operation_duration_seconds",
        Kind::Histogram,
        "GraphQL operation latency by outcome and operation name (the first 100 names per process, then other; anonymous without one); subscriptions are not timed",
    ),
    (
        "orderflow_query_position_wait_seconds",
        Kind::Histogram,
        "Time a read-your-writes query waited for the projections",
    ),
    (
        "orderflow_query_db_statements_total",
        Kind::Counter,
        "SQL statements sent to the read database",
    ),
    (
        "orderflow_query_internal_errors_total",
        Kind::Counter,
        "Errors answered as `INTERNAL`",
    ),
    (
        "orderflow_query_subscriptions_active",
        Kind::Gauge,
        "Open GraphQL subscriptions",
    ),
    (
        "orderflow_query_statement_timeouts_total",
        Kind::Counter,
        "Read statements cut off by `QUERY_STATEMENT_TIMEOUT_MS` (answered `TIMEOUT`)",
    ),
    (
        "orderflow_query_pool_timeouts_total",
        Kind::Counter,
        "Operations that found no free read connection within 5 s (answered `TIMEOUT`)",
    ),
    (
        "orderflow_query_subscriptions_refused_total",
        Kind::Counter,
        "Subscriptions refused at `QUERY_MAX_SUBSCRIPTIONS`",
    ),
    (
        "orderflow_query_ws_refused_total",
        Kind::Counter,
        "WebSocket upgrades refused at `QUERY_MAX_WS_PER_CLIENT` (HTTP 429)",
    ),
    (
        "orderflow_query_ws_unauthorized_total",
        Kind::Counter,
        "WebSocket `connection_init`s refused for a missing or bad token (closed with 4401)",
    ),
    (
        "orderflow_query_subscription_rereads_total",
        Kind::Counter,
        "Subscription re-reads of a row behind its change notice (0 on a primary; a lagging replica raises it)",
    ),
    (
        "orderflow_query_untrusted_documents_total",
        Kind::Counter,
        "Operations refused with `PERSISTED_QUERY_NOT_ALLOWED` (trusted documents enforced)",
    ),
    (
        "orderflow_payment_notifications_total",
        Kind::Counter,
        "Payment provider webhook notifications by `outcome`",
    ),
];

/// Registers every description with the installed recorder.
pub(crate) fn describe_all() {
    for &(name, kind, help) in DESCRIPTIONS {
        match kind {
            Kind::Counter => describe_counter!(name, help),
            Kind::Gauge => describe_gauge!(name, help),
            Kind::Histogram => describe_histogram!(name, help),
        }
    }
}
