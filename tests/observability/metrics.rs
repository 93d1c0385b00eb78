//! `/metrics` on the command API and the query API names every series the
//! operations guide promises, with the labels that matter; the alert rules
//! and the dashboard name only exported series; every series has HELP text.

use std::collections::BTreeSet;
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
    // A named operation: its latency is labelled with its name (the
    // anonymous one above with `anonymous`).
    let named = p
        .gql(
            &format!("query ShowOrder {{ order(id: \"{id}\") {{ id }} }}"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(named.data()["order"]["id"], id.as_str());

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
            &[("outcome", "ok"), ("operation", "anonymous")],
        ),
        (
            "orderflow_query_operation_duration_seconds_bucket",
            &[("outcome", "ok"), ("operation", "ShowOrder")],
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

/// Every `orderflow_…` name in `text` (an alert rule file, a dashboard).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("orderflow_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// The family each sample line belongs to (`x_bucket` of histogram `x` is
/// `x`), and the families with a `# HELP` line.
fn families(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut histograms = BTreeSet::new();
    let mut helped = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some("histogram" | "summary")) = (parts.next(), parts.next()) {
                histograms.insert(name.to_owned());
            }
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let mut parts = rest.splitn(2, ' ');
            if let (Some(name), Some(help)) = (parts.next(), parts.next())
                && !help.trim().is_empty()
            {
                helped.insert(name.to_owned());
            }
        }
    }
    let sampled = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| histograms.contains(*b)))
                .unwrap_or(name)
                .to_owned()
        })
        .collect();
    (sampled, helped)
}

/// The whole pipeline plus the fulfilment process manager with a payment
/// provider, one order through it, and a transaction holding the
/// watermark back for a moment, so every series family shows up; returns
/// what `/metrics` says then.
async fn busy_metrics(want: &BTreeSet<String>) -> String {
    use orderflow::{FulfilmentService, Services};
    use orderflow_fulfilment::FulfilmentConfig;
    use orderflow_payments::{ProviderConfig, SharedSecret};
    use orderflow_subscriptions::RuntimeConfig;
    use orderflow_testkit::{FakePaymentProvider, TestDb};
    use sqlx::Connection;

    let _ = orderflow_observability::prometheus_handle();
    let p = Stack::start().await;
    let saga_db = TestDb::new().await;
    let provider = FakePaymentProvider::start().await;
    let saga = FulfilmentConfig {
        database_url: saga_db.url().to_owned(),
        scheduler_interval: Duration::from_millis(100),
        runtime: RuntimeConfig {
            nats_url: crate::support::nats_url(),
            stream_name: p.stream_name.clone(),
            standby_interval: Duration::from_millis(100),
            ..FulfilmentConfig::default().runtime
        },
        ..FulfilmentConfig::default()
    };
    let provider_config = ProviderConfig::new(provider.url(), SharedSecret::new("s3cret").unwrap());
    let saga = p
        .start(Services {
            fulfilment: Some(
                FulfilmentService::with_provider(saga, Some(provider_config)).unwrap(),
            ),
            ..Services::default()
        })
        .await;
    // Traffic on both APIs (the answer is the other tests' concern).
    let (id, position) = p.create_sample_order(&[]).await;
    let _ = p.query_order(&id, &position).await;

    // A transaction outside the store holding an xid, so the relay leader
    // measures the watermark's age (it exports none while nothing holds it).
    let mut side = sqlx::PgConnection::connect(p.events_db.url())
        .await
        .unwrap();
    let mut tx = side.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = format!("{}\n{}", p.scrape(&p.rest).await, p.scrape(&p.query).await);
        let (sampled, _) = families(&text);
        let present = |n: &String| has_series(&text, n, &[]);
        if want.iter().all(|n| sampled.contains(n) || present(n))
            || tokio::time::Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    tx.rollback().await.unwrap();
    saga.shutdown().await.unwrap();
    p.finish().await;
    text
}

/// Every name the alert rules and the Grafana dashboard use is a series
/// the running services export (a renamed metric fails here, not silently
/// in production), and no series on /metrics goes without its `# HELP`
/// text. One busy pipeline serves both checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_dashboard_name_exported_series_and_every_series_has_help() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut used = BTreeSet::new();
    for file in [
        "deploy/prometheus/alerts.yml",
        "deploy/grafana/orderflow.json",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 5, "{file} names only {names:?}");
        used.extend(names);
    }
    dashboard_is_whole(
        &std::fs::read_to_string(root.join("deploy/grafana/orderflow.json")).unwrap(),
    );
    let text = busy_metrics(&used).await;
    let missing: Vec<&String> = used.iter().filter(|n| !has_series(&text, n, &[])).collect();
    assert!(
        missing.is_empty(),
        "alert rules or the dashboard name series /metrics lacks: {missing:?}\n--- /metrics:\n{text}"
    );

    let (sampled, helped) = families(&text);
    assert!(sampled.len() > 20, "too few series to judge: {sampled:?}");
    let bare: Vec<&String> = sampled.difference(&helped).collect();
    assert!(bare.is_empty(), "series without # HELP: {bare:?}");
}

/// The dashboard is JSON Grafana can load: unique panel ids, every panel
/// (rows aside) with at least one query, all on the `datasource` variable.
fn dashboard_is_whole(text: &str) {
    let dashboard: serde_json::Value = serde_json::from_str(text).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate id: {panel}"
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "a panel without queries: {panel}");
        for target in targets {
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains("orderflow_"))
            );
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{panel}");
        }
    }
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource")
    );
}

#[test]
fn names_and_families_are_read_exactly() {
    assert_eq!(
        metric_names("max(orderflow_a_total{x=\"1\"}) / orderflow_b_bucket[5m] orderflow_a_total"),
        ["orderflow_a_total", "orderflow_b_bucket"]
            .map(String::from)
            .into()
    );
    let text = "# HELP h_seconds x\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 1\n\
                h_seconds_sum 1\nh_seconds_count 1\n# TYPE c_count counter\nc_count 2\n";
    let (sampled, helped) = families(text);
    assert_eq!(sampled, ["c_count", "h_seconds"].map(String::from).into());
    assert_eq!(helped, ["h_seconds"].map(String::from).into());
}
