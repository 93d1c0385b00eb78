//! Idempotency-Key: a retry replays the first response; a reused key with
//! another request is refused; racing twins append once.

use std::time::Duration;

use orderflow_command_api::CommandApiConfig;
use serde_json::json;

use crate::app::{TestApp, money, new_order};

#[tokio::test]
async fn a_retry_replays_the_first_response_and_appends_nothing() {
    let app = TestApp::start().await;
    let post = |key: &str, body: serde_json::Value| {
        app.client
            .post(app.url("/orders"))
            .header("idempotency-key", key)
            .json(&body)
    };
    let first = app.send(post("key-1", new_order())).await;
    assert_eq!(first.status, 201);
    let again = app.send(post("key-1", new_order())).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "same order, same body");
    assert_eq!(
        again.header("idempotency-replayed").as_deref(),
        Some("true")
    );
    // The first response exactly, headers included: Location, ETag, the
    // position token. Only the per-request headers differ (`ratelimit`:
    // the caller's remaining quota, set around the handler on every request).
    let id = first.body["id"].as_str().unwrap();
    assert_eq!(first.header("location"), Some(format!("/orders/{id}")));
    let per_request = [
        "date",
        "x-correlation-id",
        "idempotency-replayed",
        "ratelimit",
    ];
    let headers = |r: &crate::app::Resp| {
        let mut h: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(name, _)| !per_request.contains(&name.as_str()))
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        h.sort();
        h
    };
    assert_eq!(headers(&again), headers(&first));
    let location = again.header("location").unwrap();
    assert_eq!(
        app.get(&location).await.status,
        200,
        "Location names the order"
    );
    assert_eq!(app.event_count(id).await, 3);

    // Another body from the same caller (keys are per caller, see auth.rs).
    let mut other = new_order();
    other["items"][0]["quantity"] = json!(3);
    app.send(post("key-1", other))
        .await
        .assert_problem(422, "idempotency-key-reused");
    // The same key on another route is another request too.
    app.send(
        app.client
            .post(app.url(&format!("/orders/{id}/submit")))
            .header("idempotency-key", "key-1"),
    )
    .await
    .assert_problem(422, "idempotency-key-reused");
}

/// Past `IDEMPOTENCY_TTL` a key is new: the same key with the same body
/// creates a second order instead of replaying the first, and the
/// background cleanup deletes the expired row.
#[tokio::test]
async fn an_expired_key_is_treated_as_new_and_cleaned_up() {
    let ttl = Duration::from_millis(1500);
    let app = TestApp::start_with(CommandApiConfig {
        idempotency_ttl: ttl,
        idempotency_cleanup_every: Duration::from_millis(200),
        ..CommandApiConfig::default()
    })
    .await;
    let post = || {
        app.client
            .post(app.url("/orders"))
            .header("idempotency-key", "short-lived")
            .json(&new_order())
    };
    let first = app.send(post()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let replay = app.send(post()).await;
    assert_eq!(
        replay.header("idempotency-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.body["id"], first.body["id"]);

    tokio::time::sleep(ttl + Duration::from_millis(500)).await;
    let count = || orderflow_event_store::pg_admin::count_idempotency_keys(&app.store);
    assert_eq!(
        count().await.unwrap(),
        0,
        "the cleanup deleted the expired key"
    );
    let fresh = app.send(post()).await;
    assert_eq!(fresh.status, 201, "{}", fresh.body);
    assert_eq!(fresh.header("idempotency-replayed"), None);
    assert_ne!(fresh.body["id"], first.body["id"], "a new order");
    assert_eq!(count().await.unwrap(), 1);
    // The new claim is live: its retry replays it.
    let again = app.send(post()).await;
    assert_eq!(again.body["id"], fresh.body["id"]);
    assert_eq!(
        again.header("idempotency-replayed").as_deref(),
        Some("true")
    );
}

#[tokio::test]
async fn racing_identical_requests_append_once() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let req = app
                .client
                .post(app.url(&format!("/orders/{id}/items")))
                .header("idempotency-key", "add-once")
                .json(&json!({ "sku": "EXTRA-1", "name": "Extra", "quantity": 1, "unit_price": money(100) }));
            tokio::spawn(async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every twin sees the same answer"
    );
    let order = app.get(&format!("/orders/{id}")).await;
    assert_eq!(order.body["items"][1]["quantity"], 1, "added exactly once");
    assert_eq!(app.event_count(&id).await, 4);
}

/// One command API "process": its own store (pool and group-commit
/// writers) and its own handler (per-order locks and cache) on the shared
/// database, served on a free port.
struct Instance {
    base: String,
    client: reqwest::Client,
    handler: orderflow_command_api::CommandHandler,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn instance(db_url: &str, auth: &crate::app::TestAuth) -> Instance {
    use std::sync::Arc;

    use orderflow_command_api::{CommandHandler, DEFAULT_BODY_LIMIT, router_with_handler};
    use orderflow_event_store::{PgEventStore, PgStoreConfig};

    let store = PgEventStore::connect(PgStoreConfig::new(db_url))
        .await
        .unwrap();
    let handler = CommandHandler::new(Arc::new(store));
    let app = router_with_handler(handler.clone(), DEFAULT_BODY_LIMIT, auth.verifier().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Instance {
        base,
        client: auth.client(),
        handler,
        _shutdown: tx,
    }
}

/// Sends `per_instance` copies of one request to each instance at once
/// (released together by a barrier); returns every answer.
async fn race(
    instances: &[&Instance],
    per_instance: usize,
    request: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> Vec<crate::app::Resp> {
    // Signed with the key both instances trust (see `instance`).
    let client = instances[0].client.clone();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(instances.len() * per_instance));
    let mut tasks = Vec::new();
    for instance in instances {
        for _ in 0..per_instance {
            let req = request(&client, &instance.base);
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                let body = r.json::<serde_json::Value>().await.unwrap();
                crate::app::Resp {
                    status,
                    headers,
                    body,
                }
            }));
        }
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

/// Twins that are not serialised by any lock: creates (each would mint its
/// own order id) sent to two processes at once. Both pass the key look-up
/// before either commits, so the store's key claim decides: exactly one
/// order exists, and every twin answers with its response.
#[tokio::test]
async fn racing_creates_across_processes_create_one_order() {
    let app = TestApp::start().await;
    let (a, b) = (
        instance(app.db.url(), &app.auth).await,
        instance(app.db.url(), &app.auth).await,
    );
    for round in 0..3 {
        let key = format!("create-race-{round}");
        let answers = race(&[&a, &b], 6, |client, base| {
            client
                .post(format!("{base}/orders"))
                .header("idempotency-key", &key)
                .json(&new_order())
        })
        .await;
        let first = &answers[0];
        assert_eq!(first.status, 201, "{}", first.body);
        let id = first.body["id"].as_str().unwrap();
        let replays = answers
            .iter()
            .filter(|r| r.header("idempotency-replayed").is_some())
            .count();
        assert_eq!(replays, answers.len() - 1, "all but one replay");
        for r in &answers {
            assert_eq!(r.status, 201, "{}", r.body);
            assert_eq!(r.body, first.body, "every twin answers the winner's body");
            assert_eq!(r.header("location"), Some(format!("/orders/{id}")));
            assert_eq!(r.etag(), first.etag());
        }
        let orders =
            orderflow_event_store::pg_admin::streams_with_idempotency_key(&app.store, &key)
                .await
                .unwrap()
                .len();
        assert_eq!(orders, 1, "exactly one order for {key}");
        assert_eq!(app.event_count(id).await, 3);
    }
    let lost = a.handler.idempotency_claims_lost() + b.handler.idempotency_claims_lost();
    assert!(
        lost > 0,
        "no twin ever reached the store's key claim; the test raced nothing"
    );
}

/// Identical commands on one order through two processes: the per-order
/// lock of each process serialises only its own twins, so the two
/// processes race in the store. The item is added once.
#[tokio::test]
async fn racing_identical_commands_across_processes_apply_once() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    let (a, b) = (
        instance(app.db.url(), &app.auth).await,
        instance(app.db.url(), &app.auth).await,
    );
    let answers = race(&[&a, &b], 6, |client, base| {
        client
            .post(format!("{base}/orders/{id}/items"))
            .header("idempotency-key", "add-across")
            .json(&json!({ "sku": "EXTRA-1", "name": "Extra", "quantity": 1, "unit_price": money(100) }))
    })
    .await;
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, answers[0].body, "every twin sees the same answer");
        assert_eq!(r.etag(), "\"4\"");
    }
    let replays = answers
        .iter()
        .filter(|r| r.header("idempotency-replayed").is_some())
        .count();
    assert_eq!(replays, answers.len() - 1, "one applied, the others replay");
    let order = app.get(&format!("/orders/{id}")).await;
    assert_eq!(order.body["items"][1]["quantity"], 1, "added exactly once");
    assert_eq!(app.event_count(&id).await, 4);
}
