//! Every error class: a precise problem+json answer, and what was written
//! (nothing, or exactly what the answer says).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use orderflow_command_api::{CommandApiConfig, bind, serve_on};
use orderflow_event_store::{PgEventStore, PgStoreConfig, StreamId, pg_admin};
use orderflow_testkit::{InsertGate, PgProxy, TestDb};
use serde_json::json;

use crate::app::{TestApp, money, new_order};

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_400() {
    let app = TestApp::start().await;
    let raw = |body: &'static str| {
        app.client
            .post(app.url("/orders"))
            .header("content-type", "application/json")
            .body(body)
    };
    app.send(raw("{\"customer_id\": "))
        .await
        .assert_problem(400, "malformed-json");
    app.send(raw("{} trailing"))
        .await
        .assert_problem(400, "malformed-json");
    let r = app
        .send(raw("{\"customer_id\": 5, \"currency\": \"EUR\"}"))
        .await;
    r.assert_problem(400, "invalid-body");
    assert!(
        r.body["detail"].as_str().unwrap().contains("customer_id"),
        "{}",
        r.body
    );
    app.send(raw("{\"currency\": \"EUR\"}"))
        .await
        .assert_problem(400, "invalid-body");
    app.send(raw(
        "{\"customer_id\": \"c\", \"currency\": \"EUR\", \"surprise\": 1}",
    ))
    .await
    .assert_problem(400, "invalid-body");
    app.send(raw("[]"))
        .await
        .assert_problem(400, "invalid-body");
    assert!(app.store_is_empty().await);
}

#[tokio::test]
async fn invalid_values_are_422_naming_every_field() {
    let app = TestApp::start().await;
    let r = app
        .post(
            "/orders",
            json!({
                "customer_id": "",
                "currency": "euro",
                "channel": "tv",
                "items": [
                    { "sku": "OK-1", "name": "fine", "quantity": 1, "unit_price": money(100) },
                    { "sku": "bad sku!", "name": "x", "quantity": -3, "unit_price": { "amount_minor": 5, "currency": "??" } }
                ]
            }),
        )
        .await;
    r.assert_problem(422, "validation");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "customer_id",
        "currency",
        "channel",
        "items[1].sku",
        "items[1].quantity",
        "items[1].unit_price.currency",
    ] {
        assert!(fields.contains(&f), "{f} not named in {fields:?}");
    }

    let id = app.create_order().await;
    let r = app
        .post(
            &format!("/orders/{id}/items"),
            json!({ "sku": "S-2", "name": "n", "quantity": 20000, "unit_price": money(1) }),
        )
        .await;
    r.assert_problem(422, "item.invalid_quantity");
    assert_eq!(r.body["errors"][0]["field"], "quantity");
    let r = app
        .post(
            &format!("/orders/{id}/items"),
            json!({ "sku": "S-2", "name": "n", "quantity": 1, "unit_price": money(-5) }),
        )
        .await;
    r.assert_problem(422, "money.negative");
    let r = app
        .send(
            app.client
                .put(app.url(&format!("/orders/{id}/shipping-address")))
                .json(&json!({ "name": "A", "line1": "B", "city": "C", "postal_code": "D", "country": "germany" })),
        )
        .await;
    r.assert_problem(422, "address.invalid");
    assert_eq!(r.body["errors"][0]["field"], "shipping_address.country");
    assert_eq!(
        app.event_count(&id).await,
        3,
        "nothing appended by refused commands"
    );
}

#[tokio::test]
async fn unknown_orders_items_and_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::start().await;
    let missing = uuid::Uuid::now_v7();
    app.get(&format!("/orders/{missing}"))
        .await
        .assert_problem(404, "order.not_found");
    app.get(&format!("/orders/{missing}/events"))
        .await
        .assert_problem(404, "order.not_found");
    app.post_empty(&format!("/orders/{missing}/submit"))
        .await
        .assert_problem(404, "order.not_found");
    app.get("/orders/not-a-uuid")
        .await
        .assert_problem(404, "order.not_found");
    let id = app.create_order().await;
    app.send(
        app.client
            .delete(app.url(&format!("/orders/{id}/items/NOPE-1"))),
    )
    .await
    .assert_problem(404, "item.not_found");
    app.get("/no/such/route")
        .await
        .assert_problem(404, "route-not-found");
    app.send(app.client.delete(app.url("/orders")))
        .await
        .assert_problem(405, "method-not-allowed");
}

#[tokio::test]
async fn business_rules_are_409_with_the_rule_code() {
    let app = TestApp::start().await;
    let r = app
        .post("/orders", json!({ "customer_id": "c", "currency": "EUR" }))
        .await;
    let empty = r.body["id"].as_str().unwrap().to_owned();
    app.post_empty(&format!("/orders/{empty}/submit"))
        .await
        .assert_problem(409, "order.empty");
    app.post_empty(&format!("/orders/{empty}/confirm"))
        .await
        .assert_problem(409, "order.invalid_transition");

    let id = app.create_order().await;
    app.post_empty(&format!("/orders/{id}/submit")).await;
    app.post_empty(&format!("/orders/{id}/confirm")).await;
    app.post(
        &format!("/orders/{id}/payments"),
        json!({ "payment_id": "p", "amount": money(1) }),
    )
    .await
    .assert_problem(409, "payment.amount_mismatch");
}

#[tokio::test]
async fn wrong_content_type_is_415_and_oversized_bodies_413() {
    let app = TestApp::start().await;
    app.send(
        app.client
            .post(app.url("/orders"))
            .body(new_order().to_string()),
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    app.send(
        app.client
            .post(app.url("/orders"))
            .header("content-type", "text/plain")
            .body(new_order().to_string()),
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    let huge = json!({ "customer_id": "c", "currency": "EUR", "pad": "x".repeat(200_000) });
    app.post("/orders", huge)
        .await
        .assert_problem(413, "payload-too-large");
    assert!(app.store_is_empty().await);
}

#[tokio::test]
async fn if_match_makes_the_append_exact() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    let url = app.url(&format!("/orders/{id}/submit"));
    let r = app
        .send(app.client.post(&url).header("if-match", "\"2\""))
        .await;
    r.assert_problem(412, "precondition-failed");
    assert_eq!(r.body["current_version"], 3);
    app.send(app.client.post(&url).header("if-match", "W/\"3\""))
        .await
        .assert_problem(400, "invalid-request");
    let r = app
        .send(app.client.post(&url).header("if-match", "\"3\""))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.etag(), "\"4\"");
}

async fn boom() -> &'static str {
    panic!("kaboom")
}

#[tokio::test]
async fn a_handler_panic_is_a_500_problem() {
    let router =
        orderflow_command_api::with_common_layers(Router::new().route("/boom", get(boom)), 1024);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let r = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "internal");
    assert!(
        !body.to_string().contains("kaboom"),
        "panic text stays in the log"
    );
}

#[tokio::test]
async fn postgres_down_is_503_until_it_is_back() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    let admin = sqlx::PgPool::connect(&orderflow_testkit::admin_url())
        .await
        .unwrap();
    let set_open = |open: bool| {
        let admin = admin.clone();
        let name = app.db.name().to_owned();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS {open}"
            )))
            .execute(&admin)
            .await
            .unwrap();
            if !open {
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                )
                .bind(&name)
                .execute(&admin)
                .await
                .unwrap();
            }
        }
    };
    set_open(false).await;
    let r = app.post_empty(&format!("/orders/{id}/submit")).await;
    r.assert_problem(503, "unavailable");
    app.post("/orders", new_order())
        .await
        .assert_problem(503, "unavailable");
    assert_eq!(app.get("/readyz").await.status, 503);
    set_open(true).await;

    let order = app.get(&format!("/orders/{id}")).await;
    assert_eq!(order.status, 200, "{}", order.body);
    assert_eq!(
        order.body["status"], "draft",
        "the refused submit left nothing behind"
    );
    assert_eq!(order.etag(), "\"3\"");
    let r = app.post_empty(&format!("/orders/{id}/submit")).await;
    assert_eq!(
        r.status, 200,
        "works again once Postgres is back: {}",
        r.body
    );
}

/// A value Postgres refuses (U+0000 in a JSON string) is the sender's
/// error: 422, whichever layer catches it, never a 500; nothing is written,
/// and the order still takes commands.
#[tokio::test]
async fn a_value_postgres_refuses_is_422_and_writes_nothing() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    let r = app
        .post(
            &format!("/orders/{id}/cancel"),
            json!({ "reason": "x\u{0}y" }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(app.stored_events(&id).await, 3);
    let r = app
        .post(
            &format!("/orders/{id}/cancel"),
            json!({ "reason": "changed my mind" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The writer's connection dies between its insert and its commit: the
/// answer is 503 `unavailable` and indeed nothing was written.
#[tokio::test]
async fn a_connection_killed_mid_transaction_is_503_and_writes_nothing() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    let mut gate = InsertGate::install(app.db.url(), "events").await;
    gate.close().await;
    let submit = tokio::spawn({
        let req = app.client.post(app.url(&format!("/orders/{id}/submit")));
        async move { req.send().await.unwrap() }
    });
    // The writer holds its transaction open at the gate; kill it there.
    gate.wait_for_waiters(1).await;
    gate.terminate_waiters().await;
    gate.open().await;
    let r = submit.await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unavailable", "{body}");
    assert_eq!(app.stored_events(&id).await, 3, "nothing half written");
    let order = app.get(&format!("/orders/{id}")).await;
    assert_eq!(order.body["status"], "draft");
    assert_eq!(order.etag(), "\"3\"");
}

/// The COMMIT takes effect but its answer never reaches the API (the
/// connection breaks right after it): the store asks Postgres what became
/// of the transaction, and the client hears the truth, 200, not a 503
/// that would make it submit twice.
#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_reported_as_done() {
    let db = TestDb::new().await;
    let proxy = PgProxy::start("127.0.0.1:5432").await;
    let mut store_config = PgStoreConfig::new(proxy.url(db.url()));
    store_config.connect_timeout = Duration::from_secs(1);
    let store = PgEventStore::connect(store_config).await.unwrap();
    let config = CommandApiConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..CommandApiConfig::default()
    };
    let listener = bind(&config).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let auth = crate::app::TestAuth::new();
    let verifier = auth.verifier().await;
    tokio::spawn(serve_on(
        listener,
        Arc::new(store.clone()),
        config,
        verifier,
        async {
            let _ = stopped.await;
        },
    ));
    let client = auth.client();
    let r = client
        .post(format!("{base}/orders"))
        .json(&new_order())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    proxy.cut_after_next_commit();
    let r = client
        .post(format!("{base}/orders/{id}/submit"))
        .send()
        .await
        .unwrap();
    assert_eq!(proxy.commits_cut(), 1, "the commit's answer was lost");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["etag"], "\"4\"");
    let order: serde_json::Value = client
        .get(format!("{base}/orders/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "submitted");
}

impl TestApp {
    /// Events stored for one order, counted in the table itself.
    async fn stored_events(&self, id: &str) -> i64 {
        let stream = StreamId::new(format!("order-{id}")).unwrap();
        let n = pg_admin::count_events(&self.store, Some(&stream))
            .await
            .unwrap();
        i64::try_from(n).unwrap()
    }

    /// Counts committed rows directly: `read_all` may lag behind commits.
    async fn store_is_empty(&self) -> bool {
        pg_admin::count_events(&self.store, None).await.unwrap() == 0
    }
}
