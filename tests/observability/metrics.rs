//! `/metrics` on the command API and the query API names every series the
//! operations guide promises, with the labels that matter.

use std::time::Duration;

use crate::support::Stack;

/// Whether a sample line of `name` (exactly, or with a histogram suffix
/// when `name` ends in `_bucket` etc.) carries every `label="value"`.
fn has_series(text: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    text.lines().filter(|l| !l.starts_with('#')).any(|line| {
        let Some(rest) = line.strip_prefix(name) else {
            return false;
        };
        (rest.starts_with('{') || rest.starts_with(' '))
            && labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_every_promised_series() {
    // The recorder is process-wide; installing it before the services
    // start means no early sample goes to the no-op recorder.
    let _ = orderflow_observability::prometheus_handle();
    let p = Stack::start().await;
    let (id, position) = p.create_sample_order(&[]).await;
    let order = p.query_order(&id, &position).await;
    assert_eq!(order["data"]["order"]["id"], id.as_str());

    let command_api: Vec<(&str, &[(&str, &str)])> = vec![
        (
            "orderflow_http_request_duration_seconds_bucket",
            &[("method", "POST"), ("route", "/orders"), ("status", "201")],
        ),
        (
            "orderflow_http_requests_total",
            &[("route", "/orders"), ("status", "201")],
        ),
        (
            "orderflow_commands_total",
            &[("command", "CreateOrder"), ("outcome", "applied")],
        ),
        ("orderflow_events_appended_total", &[]),
        // The idempotency cleanup's first round runs at start.
        ("orderflow_idempotency_keys_expired_total", &[]),
        ("orderflow_store_batch_size_bucket", &[]),
        ("orderflow_store_batch_seconds_bucket", &[]),
        ("orderflow_relay_leader", &[]),
        ("orderflow_relay_lag_seconds", &[]),
        ("orderflow_relay_event_age_seconds_bucket", &[]),
        ("orderflow_relay_published_total", &[]),
        (
            "orderflow_subscription_lag_events",
            &[("subscriber", "orders")],
        ),
        (
            "orderflow_subscription_lag_seconds",
            &[("subscriber", "orders")],
        ),
        (
            "orderflow_subscription_dead_letters_total",
            &[("subscriber", "orders")],
        ),
        (
            "orderflow_subscription_stopped",
            &[("subscriber", "orders")],
        ),
        (
            "orderflow_subscription_backing_off",
            &[("subscriber", "orders")],
        ),
        (
            "orderflow_subscription_events_total",
            &[("subscriber", "orders")],
        ),
    ];
    let query_api: Vec<(&str, &[(&str, &str)])> = vec![
        (
            "orderflow_http_request_duration_seconds_bucket",
            &[("method", "POST"), ("route", "/graphql"), ("status", "200")],
        ),
        (
            "orderflow_query_operation_duration_seconds_bucket",
            &[("outcome", "ok")],
        ),
    ];

    // Lag gauges are refreshed once a second: give them a few rounds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rest = p.scrape(&p.rest).await;
        let query = p.scrape(&p.query).await;
        let missing: Vec<String> = command_api
            .iter()
            .filter(|(n, l)| !has_series(&rest, n, l))
            .map(|(n, l)| format!("command API: {n} {l:?}"))
            .chain(
                query_api
                    .iter()
                    .filter(|(n, l)| !has_series(&query, n, l))
                    .map(|(n, l)| format!("query API: {n} {l:?}")),
            )
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing series: {missing:#?}\n--- command API /metrics:\n{rest}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    p.finish().await;
}

#[test]
fn series_matching_is_exact() {
    let text = "# TYPE a_total counter\na_total{x=\"1\"} 3\na_total_more 1\nb 2\n";
    assert!(has_series(text, "a_total", &[("x", "1")]));
    assert!(!has_series(text, "a_total", &[("x", "2")]));
    assert!(has_series(text, "b", &[]));
    assert!(!has_series(text, "a", &[]));
}
