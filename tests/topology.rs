//! The deployed topology on loopback, as separate `orderflow` processes:
//! two command APIs, two relay candidates, two projectors and two query
//! APIs over one events database, one read database and NATS. Load runs
//! against both command APIs while the active relay and a projector are
//! killed with SIGKILL; afterwards every read model must equal a fresh
//! rebuild, and match the store and what the clients were told. SIGTERM
//! must end each service cleanly and hand its locks over at once; a command
//! API stopped by SIGTERM under load answers every request it read (its
//! debug log names each request it read and answered, by correlation id,
//! and a request it ran shows up as an idempotent replay when sent again).
//!
//! Run alone with `cargo test --test topology -- --nocapture` to see the
//! failover times it measures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orderflow_event_store::{PgEventStore, PgStoreConfig, pg_admin};
use orderflow_projections::PROJECTIONS;
use orderflow_testkit::TestDb;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use support::Service;

/// What the clients were told: each order's last acknowledged version.
#[derive(Default)]
struct Acknowledged {
    versions: HashMap<Uuid, u64>,
    /// Orders whose last command had no answer (its outcome is unknown).
    unknown: Vec<Uuid>,
    commands: u64,
    /// Requests sent again after their connection closed without an answer.
    resent: u64,
    /// Those attempts: which API, with which correlation id, when.
    unanswered: Vec<Unanswered>,
    /// Correlation ids of the unanswered attempts whose request was then
    /// answered as an idempotent replay: the unanswered one had run.
    replayed: HashSet<String>,
    errors: Vec<String>,
}

/// An attempt whose connection closed without a response.
#[derive(Debug, Clone)]
struct Unanswered {
    api: usize,
    correlation_id: String,
    failed_at: Instant,
    error: String,
}

fn customer_of(worker: usize, n: usize) -> String {
    format!("customer-{}", (worker * 7 + n) % 23)
}

fn new_order(worker: usize, n: usize) -> Value {
    json!({
        "customer_id": customer_of(worker, n),
        "currency": "EUR",
        "items": [{
            "sku": format!("SKU-{}", n % 5), "name": "Thing", "quantity": 1 + n % 3,
            "unit_price": { "amount_minor": 500 + (n % 7) as i64 * 100, "currency": "EUR" }
        }],
        "shipping_address": {
            "name": "A Customer", "line1": "1 Main Street", "city": "Lyon",
            "postal_code": "69001", "country": "FR"
        }
    })
}

/// One worker: creates orders and takes each through submit, confirm, pay
/// and ship, alternating between the command APIs (and using the other one
/// when one stops answering).
async fn worker(
    apis: Vec<String>,
    id: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let http = reqwest::Client::new();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let mut order: Option<(Uuid, u64, String, i64)> = None;
        for step in ["create", "submit", "confirm", "payments", "ship"] {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let (path, body) = match (&order, step) {
                (None, _) => ("orders".to_owned(), Some(new_order(id, n))),
                (Some((oid, ..)), "payments") => {
                    let total = order.as_ref().map_or(0, |o| o.3);
                    (
                        format!("orders/{oid}/payments"),
                        Some(json!({
                            "payment_id": format!("pay-{oid}"),
                            "amount": { "amount_minor": total, "currency": "EUR" }
                        })),
                    )
                }
                (Some((oid, ..)), "ship") => (
                    format!("orders/{oid}/ship"),
                    Some(json!({ "carrier": "DHL", "tracking_number": format!("T{n}") })),
                ),
                (Some((oid, ..)), action) => (format!("orders/{oid}/{action}"), None),
            };
            // Each command carries an Idempotency-Key, so a request whose
            // fate is unknown (the connection closed under it while an API
            // shut down) is sent again, to either API, without doubling.
            let key = Uuid::now_v7().to_string();
            let mut answered = None;
            let mut last_error = None;
            let mut unanswered = Vec::new();
            for attempt in 0..6 {
                let api = (id + n + attempt) % apis.len();
                let correlation_id = format!("{key}.{attempt}");
                let mut req = http
                    .post(format!("{}/{path}", apis[api]))
                    .bearer_auth(support::process::token_for(&customer_of(id, n)))
                    .header("Idempotency-Key", &key)
                    .header("X-Correlation-Id", &correlation_id);
                if let Some(b) = &body {
                    req = req.json(b);
                }
                match req.send().await {
                    Ok(resp) => {
                        answered = Some(resp);
                        break;
                    }
                    Err(e) => {
                        if !e.is_connect() {
                            let mut a = acked.lock().unwrap();
                            a.resent += 1;
                            a.unanswered.push(Unanswered {
                                api,
                                correlation_id: correlation_id.clone(),
                                failed_at: Instant::now(),
                                error: format!("{e:?}"),
                            });
                            unanswered.push(correlation_id);
                        }
                        last_error = Some(e);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            let replayed = answered.as_ref().is_some_and(|r| {
                r.headers()
                    .get("idempotency-replayed")
                    .is_some_and(|v| v == "true")
            });
            if replayed {
                acked.lock().unwrap().replayed.extend(unanswered);
            }
            if answered.is_none() {
                let mut a = acked.lock().unwrap();
                if let Some((oid, ..)) = &order {
                    a.unknown.push(*oid);
                }
                a.errors.push(format!("{step}: {last_error:?}"));
            }
            let Some(resp) = answered else {
                break;
            };
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            if !(200..300).contains(&status) {
                acked
                    .lock()
                    .unwrap()
                    .errors
                    .push(format!("{step}: HTTP {status} {v}"));
                break;
            }
            let oid: Uuid = v["id"].as_str().unwrap().parse().unwrap();
            let version = v["version"].as_u64().unwrap();
            let total = v["total"]["amount_minor"].as_i64().unwrap_or(0);
            order = Some((oid, version, step.to_owned(), total));
            let mut a = acked.lock().unwrap();
            a.commands += 1;
            a.versions.insert(oid, version);
        }
    }
}

/// Every read-model table, row for row, as sorted JSON text.
async fn dump(read: &PgPool) -> BTreeMap<String, Vec<String>> {
    let tables = PROJECTIONS.iter().flat_map(|d| d.tables.iter().copied());
    orderflow_testkit::dump_tables(read, tables).await.unwrap()
}

/// `orderflow projections status --json` until every projection is
/// running with no lag.
async fn wait_caught_up(env: &[(&str, String)], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(["projections", "status", "--json"])
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let statuses: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let done = statuses
            .iter()
            .all(|s| s["state"] == "running" && s["lag_events"] == 0);
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "projections did not catch up: {statuses:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Concurrent clients of the command APIs.
const WORKERS: usize = 12;

/// The correlation ids in log lines (`correlation_id=<id>` of the request
/// span).
fn correlation_ids(lines: &[(Instant, String)]) -> HashSet<String> {
    lines
        .iter()
        .filter_map(|(_, line)| {
            let rest = &line[line.find("correlation_id=")? + "correlation_id=".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.:".contains(c)))
                .unwrap_or(rest.len());
            Some(rest[..end].to_owned())
        })
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_fail_over_and_the_read_models_end_exact() {
    let events_db = TestDb::new().await;
    let read_db = TestDb::new().await;
    let tag = Uuid::now_v7().simple().to_string();
    let tag = &tag[tag.len() - 10..];
    let env = vec![
        ("DATABASE_URL", events_db.url().to_owned()),
        ("READ_DATABASE_URL", read_db.url().to_owned()),
        ("EVENTS_STREAM", format!("TOPOLOGY_{tag}")),
        ("SUBJECT_PREFIX", format!("topology{tag}")),
        // Twelve workers from one address: this test is about fail-over,
        // not about the per-IP limit (tested in auth/tests/rate_limit.rs).
        ("RATE_LIMIT_ENABLED", "false".to_owned()),
    ];
    let any = "127.0.0.1:0";

    // The first command API creates and migrates the events database.
    let mut command_apis = vec![Service::start(
        "command-api-1",
        &[
            "command-api",
            "--no-relay",
            "--command-api-addr",
            any,
            "--metrics-addr",
            any,
        ],
        &env,
    )];
    let first = command_apis[0].url("command API").await;
    // The one stopped by SIGTERM later logs every request it answers.
    let mut logged_env = env.clone();
    logged_env.push((
        "LOG",
        "info,sqlx=warn,orderflow_observability::correlation=debug".to_owned(),
    ));
    // Plain `correlation_id=<id>` in its lines, not colour codes.
    logged_env.push(("NO_COLOR", "1".to_owned()));
    command_apis.push(Service::start(
        "command-api-2",
        &["command-api", "--no-relay", "--command-api-addr", any],
        &logged_env,
    ));
    let second = command_apis[1].url("command API").await;
    let apis = vec![first, second];

    let metrics = ["--metrics-addr", any];
    let mut relays = vec![
        Service::start("relay-1", &["relay", metrics[0], metrics[1]], &env),
        Service::start("relay-2", &["relay", metrics[0], metrics[1]], &env),
    ];
    let mut projectors = [
        Service::start("projector-1", &["projector", metrics[0], metrics[1]], &env),
        Service::start("projector-2", &["projector", metrics[0], metrics[1]], &env),
    ];
    let mut query_apis = [
        Service::start(
            "query-api-1",
            &["query-api", "--query-api-addr", any, "--metrics-addr", any],
            &env,
        ),
        Service::start("query-api-2", &["query-api", "--query-api-addr", any], &env),
    ];
    let graphql = [
        query_apis[0].url("query API").await,
        query_apis[1].url("query API").await,
    ];

    // Exactly one relay leads; the projections are owned, all five.
    let leader_line = "relay is leader";
    let owned_line = "subscriber owned by this process";
    let deadline = Instant::now() + Duration::from_secs(60);
    let (active_relay, _) = loop {
        let leaders: Vec<usize> = (0..2)
            .filter(|&i| !relays[i].found(leader_line).is_empty())
            .collect();
        let owned: usize = projectors.iter().map(|p| p.found(owned_line).len()).sum();
        if leaders.len() == 1 && owned == PROJECTIONS.len() {
            break (leaders[0], owned);
        }
        assert!(leaders.len() <= 1, "two relays lead at once");
        assert!(
            Instant::now() < deadline,
            "relay or projectors did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let standby_relay = 1 - active_relay;
    let busiest = if projectors[0].found(owned_line).len() >= projectors[1].found(owned_line).len()
    {
        0
    } else {
        1
    };
    let other_projector = 1 - busiest;
    let owned_by_busiest = projectors[busiest].found(owned_line).len();
    let owned_by_other = projectors[other_projector].found(owned_line).len();

    // The standalone relay and projector serve probes and metrics too, on
    // their internal listener, without a token; so do the APIs.
    let scrape = |url: String| async move {
        let http = reqwest::Client::new();
        let ready = http
            .get(url.replace("/metrics", "/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200, "{url}");
        http.get(&url).send().await.unwrap().text().await.unwrap()
    };
    let relay_metrics = scrape(relays[active_relay].url("metrics").await).await;
    assert!(
        relay_metrics.contains("orderflow_relay_leader 1"),
        "{relay_metrics}"
    );
    let projector_metrics = scrape(projectors[busiest].url("metrics").await).await;
    assert!(
        projector_metrics.contains("orderflow_subscription_owned{"),
        "{projector_metrics}"
    );

    // Load on both command APIs.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            tokio::spawn(worker(
                apis.clone(),
                i,
                Arc::clone(&stop),
                Arc::clone(&acked),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(3)).await;
    // The APIs' internal listener needs no token; their public `/metrics`
    // does (an operator's; tested beside each API).
    let api_metrics = scrape(command_apis[0].url("metrics").await).await;
    assert!(
        api_metrics.contains("orderflow_commands_total{"),
        "{api_metrics}"
    );
    let public = reqwest::get(format!("{}/metrics", apis[0])).await.unwrap();
    assert_eq!(public.status(), 401);
    let query_metrics_url = query_apis[0].url("metrics").await;
    scrape(query_metrics_url).await;
    let killed_relay = relays[active_relay].kill();
    let relay_took_over = relays[standby_relay]
        .wait_for(leader_line, 1, Duration::from_secs(30))
        .await;
    let relay_failover = relay_took_over - killed_relay;

    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_projector = projectors[busiest].kill();
    let projector_took_over = projectors[other_projector]
        .wait_for(
            owned_line,
            owned_by_other + owned_by_busiest,
            Duration::from_secs(30),
        )
        .await;
    let projector_failover = projector_took_over - killed_projector;

    // A replacement relay joins as standby; SIGTERM on the leader must hand
    // the lock over at once (not after a connection timeout).
    relays.push(Service::start("relay-3", &["relay"], &env));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let termed = relays[standby_relay].terminate();
    let relay3_leads = relays[2]
        .wait_for(leader_line, 1, Duration::from_secs(30))
        .await;
    let relay_handover = relay3_leads - termed;
    let relay_exit = relays[standby_relay]
        .exit_status(Duration::from_secs(10))
        .await;
    assert!(relay_exit.success(), "relay after SIGTERM: {relay_exit}");

    // SIGTERM on a command API under load: it drains, exits 0, and the
    // clients go on with the other one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let api_termed = command_apis[1].terminate();
    let api_exit = command_apis[1].exit_status(Duration::from_secs(10)).await;
    assert!(api_exit.success(), "command API after SIGTERM: {api_exit}");
    let api_exited = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();
    assert!(
        acked.commands > 200,
        "too little load to prove anything: {} commands, errors {:?}",
        acked.commands,
        acked.errors
    );
    // With retries under the same Idempotency-Key, every command got its
    // answer, whichever API was stopping.
    assert!(
        acked.errors.is_empty(),
        "commands failed: {:?}",
        acked.errors
    );

    // No request was cut. A connection closed without an answer only where
    // command API 2 was stopping, and each such request was one it never
    // read: its log shows no start of it, and sending it again ran it
    // afresh (a start or answer logged, or a replay, would mean the API had
    // read it and the client got no answer). These are requests sent on a
    // kept-alive connection just as the draining server closed it, idle
    // (HTTP/1.1's known race; hence the resends under the same key): at
    // most one per worker, since a worker sends one request at a time and,
    // once the listener is closed, a new connection is refused (a connect
    // error, not counted).
    let started_by_2 = correlation_ids(&command_apis[1].found("request started"));
    let answered_by_2 = correlation_ids(&command_apis[1].found("request finished"));
    let cut: Vec<&Unanswered> = acked
        .unanswered
        .iter()
        .filter(|u| {
            started_by_2.contains(&u.correlation_id)
                || answered_by_2.contains(&u.correlation_id)
                || acked.replayed.contains(&u.correlation_id)
        })
        .collect();
    assert!(
        cut.is_empty(),
        "requests cut by the SIGTERM drain: {cut:#?}"
    );
    for u in &acked.unanswered {
        assert_eq!(
            u.api, 1,
            "an API that was not stopping closed a connection: {u:?}"
        );
        assert!(
            u.failed_at >= api_termed && u.failed_at <= api_exited,
            "a connection closed outside the drain: {u:?}"
        );
    }
    for u in &acked.unanswered {
        println!(
            "sent again after API 2 closed the connection unread: {} ({})",
            u.correlation_id, u.error
        );
    }
    assert!(
        acked.resent <= WORKERS as u64,
        "more resends than workers ({WORKERS}): {:#?}",
        acked.unanswered
    );
    assert!(
        !answered_by_2.is_empty() && started_by_2.len() >= answered_by_2.len(),
        "command API 2 logged {} starts and {} answers: its log cannot tell cut requests",
        started_by_2.len(),
        answered_by_2.len()
    );

    wait_caught_up(&env, Duration::from_secs(60)).await;
    let read = PgPool::connect(read_db.url()).await.unwrap();
    let events = PgEventStore::connect(PgStoreConfig::new(events_db.url()))
        .await
        .unwrap();
    let live = dump(&read).await;

    // No event lost or applied twice: each order's row is at the version
    // of its last stored event, and at the last version a client was told.
    let store_versions: HashMap<Uuid, i64> = pg_admin::last_versions(&events)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(s, v)| {
            let id = s.as_str().strip_prefix("order-")?.parse().ok()?;
            Some((id, i64::try_from(v).ok()?))
        })
        .collect();
    let rows: HashMap<Uuid, i64> =
        sqlx::query_as::<_, (Uuid, i64)>("SELECT order_id, stream_version FROM orders")
            .fetch_all(&read)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(rows, store_versions, "orders read model against the store");
    for (id, version) in &acked.versions {
        if acked.unknown.contains(id) {
            continue;
        }
        assert_eq!(
            rows.get(id).copied(),
            Some(i64::try_from(*version).unwrap()),
            "order {id}"
        );
    }

    // Every read model equals a fresh rebuild from the store.
    let rebuilt_db = TestDb::new().await;
    let mut rebuild_env = env.clone();
    rebuild_env[1] = ("READ_DATABASE_URL", rebuilt_db.url().to_owned());
    let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["projections", "rebuild", "--all", "--json"])
        .env_remove("RUST_LOG")
        .envs(rebuild_env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rebuild: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt_pool = PgPool::connect(rebuilt_db.url()).await.unwrap();
    let rebuilt = dump(&rebuilt_pool).await;
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        rebuilt.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &live {
        assert_eq!(rows.len(), rebuilt[table].len(), "rows in {table}");
        assert!(rows == &rebuilt[table], "{table} differs from its rebuild");
    }

    // Reads answer on both query APIs.
    let http = reqwest::Client::new();
    for url in &graphql {
        let v: Value = http
            .post(url)
            .bearer_auth(support::process::token(
                "topology-staff",
                &[orderflow_auth::Role::Staff],
            ))
            .json(&json!({ "query": "{ orders(first: 1) { totalCount } }" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["data"]["orders"]["totalCount"].as_u64(),
            Some(rows.len() as u64),
            "{v}"
        );
    }

    // SIGTERM ends every remaining service with status 0.
    let mut remaining: Vec<&mut Service> = Vec::new();
    remaining.push(&mut command_apis[0]);
    remaining.push(&mut relays[2]);
    remaining.push(&mut projectors[other_projector]);
    remaining.extend(query_apis.iter_mut());
    for s in &remaining {
        s.terminate();
    }
    for s in remaining {
        let status = s.exit_status(Duration::from_secs(15)).await;
        assert!(status.success(), "{} after SIGTERM: {status}", s.name);
    }
    rebuilt_pool.close().await;
    read.close().await;
    events.pool().close().await;

    println!(
        "topology: {} commands ({} sent again after a connection closed unread while API 2 \
         drained; {} answers logged by API 2), {} orders, {} events",
        acked.commands,
        acked.resent,
        answered_by_2.len(),
        rows.len(),
        store_versions.values().sum::<i64>()
    );
    println!("relay failover after SIGKILL:     {}", secs(relay_failover));
    println!(
        "projector failover after SIGKILL: {} ({owned_by_busiest} projections moved)",
        secs(projector_failover)
    );
    println!("relay handover after SIGTERM:     {}", secs(relay_handover));
}
