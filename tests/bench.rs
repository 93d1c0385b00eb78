//! Benchmarks run end to end at a tiny size: the command works, both sides
//! account for every order, and the report is whole. Figures from a debug
//! build under test load mean nothing; docs/benchmarks.md has the real
//! ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use orderflow_testkit::{admin_url, replace_database};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// Drops the databases a bench made (its own and the saga's).
async fn drop_databases(names: &[String]) {
    let mut conn = PgConnection::connect(&admin_url()).await.unwrap();
    for name in names {
        // Names made below from a UUID, never from input.
        conn.execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .await
        .unwrap();
    }
}

/// Runs `orderflow <args>` on the scratch database `url` (and the test
/// NATS server, for the benches that use one).
async fn run_bench(url: String, args: &[&str]) -> std::process::Output {
    let nats = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(args)
            .env("BENCH_DATABASE_URL", url)
            .env("NATS_URL", nats)
            .env("LOG", "warn")
            .output()
            .expect("run orderflow")
    })
    .await
    .unwrap()
}

/// The run's standard output, once it exited successfully.
fn succeeded(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn bench_checkout_confirms_every_order_on_both_sides() {
    // The bench only drops databases named orderflow_bench*.
    let name = format!("orderflow_bench_smoke_{}", uuid::Uuid::now_v7().simple());
    let url = replace_database(&admin_url(), &name);
    let output = run_bench(
        url,
        &[
            "bench",
            "checkout",
            "--rate",
            "10",
            "--duration",
            "2s",
            "--json",
        ],
    )
    .await;
    drop_databases(&[name.clone(), format!("{name}_fulfilment")]).await;
    let stdout = succeeded(&output);
    assert!(stdout.contains("saga: reserve, then confirm"), "{stdout}");
    assert!(stdout.contains("baseline: staff confirm"), "{stdout}");
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["bench"], "checkout");
    // 10/s for 2 s measured: every tick sent, every order confirmed.
    for side in ["", "baseline_"] {
        let sent = report[format!("{side}sent")].as_u64().unwrap();
        assert!((18..=22).contains(&sent), "{side}sent: {report}");
        assert_eq!(report[format!("{side}confirmed")], sent, "{report}");
        assert_eq!(report[format!("{side}errors")], 0, "{report}");
        assert_eq!(report[format!("{side}unconfirmed")], 0, "{report}");
        assert!(report[format!("{side}p50_ms")].as_f64().unwrap() > 0.0);
    }
    assert_eq!(report["rejected"], 0, "{report}");
    // The saga takes a submit up before it confirms the order.
    let picked_up = report["picked_up_p50_ms"].as_f64().unwrap();
    assert!(
        picked_up > 0.0 && picked_up <= report["p50_ms"].as_f64().unwrap(),
        "{report}"
    );
}

#[tokio::test]
async fn bench_queries_measures_a_query_api_in_a_process_of_its_own() {
    let name = format!("orderflow_bench_smoke_{}", uuid::Uuid::now_v7().simple());
    let url = replace_database(&admin_url(), &name);
    let read_url = format!("{url}_read");
    let svg = std::env::temp_dir().join(format!("{name}.svg"));
    // A small read model to query: the rebuild bench leaves one in `<db>_read`.
    let seeded = run_bench(
        url.clone(),
        &["bench", "rebuild", "--events", "3000", "--json"],
    )
    .await;
    succeeded(&seeded);
    let svg_path = svg.display().to_string();
    let output = run_bench(
        url.clone(),
        &[
            "bench",
            "queries",
            "--seconds",
            "1",
            "--concurrency",
            "4",
            "--json",
            "--read-database-url",
            &read_url,
            "--svg",
            &svg_path,
        ],
    )
    .await;
    drop_databases(&[name.clone(), format!("{name}_read")]).await;
    let stdout = succeeded(&output);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["server"], "child", "{report}");
    for phase in ["by_id", "by_id_sql", "list", "list_sql"] {
        let p = &report[phase];
        assert!(p["requests"].as_u64().unwrap() > 0, "{phase}: {report}");
        assert_eq!(p["errors"], 0, "{phase}: {report}");
    }
    // The server's work is read from its own process, apart from the
    // load generator's.
    for phase in ["by_id", "list"] {
        assert!(
            report[phase]["server_cpu_s"].as_f64().unwrap() > 0.0,
            "{report}"
        );
    }
    assert!(report["by_id_sql"]["server_cpu_s"].is_null(), "{report}");
    // Postgres runs on this machine in tests: the machine's whole cost of
    // a query is accounted.
    assert!(
        report["by_id_cpu_us_per_query"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(report["server_peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(report["bench_peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    let picture = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    assert!(picture.starts_with("<svg"));
    for label in ["order(id) GraphQL", "orders(first:50) SQL", "p99"] {
        assert!(picture.contains(label), "{label} not in the picture");
    }
}

#[tokio::test]
async fn bench_lag_splits_each_lag_where_its_event_reached_nats() {
    let name = format!("orderflow_bench_lag_{}", uuid::Uuid::now_v7().simple());
    let url = replace_database(&admin_url(), &name);
    let output = run_bench(
        url,
        &[
            "bench",
            "lag",
            "--rate",
            "20",
            "--seconds",
            "2",
            "--stages",
            "--json",
        ],
    )
    .await;
    drop_databases(&[name.clone(), format!("{name}_read")]).await;
    let stdout = succeeded(&output);
    assert!(stdout.contains("response → on NATS"), "{stdout}");
    assert!(stdout.contains("CPU while commands ran"), "{stdout}");
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["bench"], "lag");
    let sent = report["sent"].as_u64().unwrap();
    assert!((36..=44).contains(&sent), "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["unseen"], 0, "{report}");
    // Most lags are split (the tap may see an event only after the
    // watcher saw its row), and both parts of a split lag are measured.
    let stages = &report["stages"];
    assert!(stages["untapped"].as_u64().unwrap() < sent / 2, "{report}");
    assert!(
        stages["nats_to_row_p50_ms"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(stages["to_nats_p99_ms"].as_f64().unwrap() > 0.0, "{report}");
    // The commands' phase used this process and the machine's cores.
    assert!(
        report["cpu"]["own_cores"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let busy = report["cpu"]["machine_busy_share"].as_f64().unwrap();
    assert!(busy > 0.0 && busy <= 1.0, "{report}");
}

#[tokio::test]
async fn bench_lag_runs_only_the_projections_asked_for_where_it_is_told() {
    let name = format!("orderflow_bench_lag_{}", uuid::Uuid::now_v7().simple());
    let url = replace_database(&admin_url(), &name);
    let elsewhere = format!("{name}_elsewhere");
    let read_url = replace_database(&admin_url(), &elsewhere);
    let output = run_bench(
        url,
        &[
            "bench",
            "lag",
            "--rate",
            "20",
            "--seconds",
            "1",
            "--projections",
            "order_items",
            "--read-database-url",
            &read_url,
            "--json",
        ],
    )
    .await;
    let mut read = PgConnection::connect(&read_url).await.unwrap();
    let ran: Vec<String> =
        sqlx::query_scalar("SELECT name FROM projection_checkpoints ORDER BY name")
            .fetch_all(&mut read)
            .await
            .unwrap();
    read.close().await.unwrap();
    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
    let default_read: Option<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname = $1")
            .bind(format!("{name}_read"))
            .fetch_optional(&mut admin)
            .await
            .unwrap();
    drop_databases(&[name.clone(), elsewhere, format!("{name}_read")]).await;
    let stdout = succeeded(&output);
    // `orders` always runs: its rows are what the watcher waits for.
    assert_eq!(ran, ["order_items", "orders"], "{stdout}");
    assert_eq!(
        default_read, None,
        "the read models went to the default database"
    );
    assert!(
        stdout.contains("projections running: order_items, orders (no others)"),
        "{stdout}"
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        report["projections"],
        serde_json::json!(["order_items", "orders"])
    );
    assert_eq!(report["unseen"], 0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
}
