//! The stock endpoints over HTTP, and the inventory handler the fulfilment
//! process will use: staff only, ETag and If-Match, idempotency keys,
//! problems with stable codes, and never overselling under racing handlers.

use std::sync::Arc;

use orderflow_auth::Role;
use orderflow_command_api::{CommandContext, CommandError, CommandOutcome, InventoryHandler};
use orderflow_domain::{InventoryCommand, InventoryError, OrderId, Sku};
use serde_json::{Value, json};

use crate::app::{Resp, TestApp};

fn staff(app: &TestApp) -> String {
    app.auth.token("staff-1", &[Role::Staff])
}

async fn send_as(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Resp {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    app.send(req).await
}

async fn receive(app: &TestApp, sku: &str, quantity: i64) -> Resp {
    send_as(
        app,
        &staff(app),
        reqwest::Method::POST,
        &format!("/inventory/{sku}/receipts"),
        Some(json!({ "quantity": quantity })),
    )
    .await
}

fn handler(app: &TestApp) -> InventoryHandler {
    InventoryHandler::new(Arc::new(app.store.clone()))
}

fn order() -> OrderId {
    OrderId::new(uuid::Uuid::now_v7())
}

#[tokio::test]
async fn receiving_shows_in_the_stock_with_its_etag() {
    let app = TestApp::start().await;
    let r = receive(&app, "MUG-CER-1", 40).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.etag(), "\"1\"");
    assert!(r.header("x-orderflow-position").is_some());
    assert_eq!(r.body["sku"], "MUG-CER-1");
    assert_eq!(
        (r.body["on_hand"].as_u64(), r.body["available"].as_u64()),
        (Some(40), Some(40))
    );
    receive(&app, "MUG-CER-1", 2).await;

    let r = send_as(
        &app,
        &staff(&app),
        reqwest::Method::GET,
        "/inventory/MUG-CER-1",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.etag(), "\"2\"");
    assert_eq!(r.body["on_hand"], 42);
    assert_eq!(r.body["reserved"], 0);
    assert_eq!(r.body["version"], 2);
}

#[tokio::test]
async fn a_sku_without_stock_or_with_an_impossible_name_is_a_404() {
    let app = TestApp::start().await;
    let token = staff(&app);
    let r = send_as(
        &app,
        &token,
        reqwest::Method::GET,
        "/inventory/NEVER-SEEN",
        None,
    )
    .await;
    r.assert_problem(404, "inventory.not_found");
    for bad in ["a%20b", "%C3%A4", &"s".repeat(65)] {
        let r = send_as(
            &app,
            &token,
            reqwest::Method::GET,
            &format!("/inventory/{bad}"),
            None,
        )
        .await;
        r.assert_problem(404, "inventory.not_found");
        let r = send_as(
            &app,
            &token,
            reqwest::Method::POST,
            &format!("/inventory/{bad}/receipts"),
            Some(json!({ "quantity": 1 })),
        )
        .await;
        r.assert_problem(404, "inventory.not_found");
    }
}

#[tokio::test]
async fn adjusting_below_what_is_reserved_is_a_409_and_changes_nothing() {
    let app = TestApp::start().await;
    receive(&app, "TEA-1", 10).await;
    let sku = Sku::new("TEA-1").unwrap();
    let reserved = handler(&app)
        .execute(
            sku,
            &InventoryCommand::Reserve {
                order_id: order(),
                quantity: 4,
            },
            &CommandContext::default(),
        )
        .await;
    assert!(
        matches!(reserved, Ok(CommandOutcome::Applied { .. })),
        "{reserved:?}"
    );

    let token = staff(&app);
    let r = send_as(
        &app,
        &token,
        reqwest::Method::POST,
        "/inventory/TEA-1/adjustments",
        Some(json!({ "on_hand": 3, "reason": "stocktake" })),
    )
    .await;
    r.assert_problem(409, "inventory.below_reserved");
    assert_eq!(r.body["errors"][0]["field"], "on_hand");

    let r = send_as(
        &app,
        &token,
        reqwest::Method::POST,
        "/inventory/TEA-1/adjustments",
        Some(json!({ "on_hand": 4, "reason": "stocktake: 6 lost" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["on_hand"].as_u64(),
            r.body["reserved"].as_u64(),
            r.body["available"].as_u64()
        ),
        (Some(4), Some(4), Some(0))
    );
    assert_eq!(r.body["open_reservations"], 1);
    assert_eq!(r.etag(), "\"3\"");
}

#[tokio::test]
async fn a_stale_if_match_is_a_412_and_the_current_one_applies() {
    let app = TestApp::start().await;
    receive(&app, "PEN-1", 5).await;
    let adjust = |if_match: &str| {
        app.client
            .post(app.url("/inventory/PEN-1/adjustments"))
            .bearer_auth(staff(&app))
            .header("if-match", if_match)
            .json(&json!({ "on_hand": 7, "reason": "recount" }))
    };
    let r = app.send(adjust("\"0\"")).await;
    r.assert_problem(412, "precondition-failed");
    assert_eq!(r.body["current_version"], 1);
    let r = app.send(adjust("\"1\"")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["on_hand"], 7);
}

#[tokio::test]
async fn only_staff_touch_stock() {
    let app = TestApp::start().await;
    receive(&app, "BAG-1", 5).await;
    let customer = app.auth.token("customer-1", &[Role::Customer]);
    let finance = app.auth.token("fin-1", &[Role::Finance]);
    for token in [&customer, &finance] {
        let r = send_as(
            &app,
            token,
            reqwest::Method::POST,
            "/inventory/BAG-1/receipts",
            Some(json!({ "quantity": 1 })),
        )
        .await;
        r.assert_problem(403, "forbidden");
        let r = send_as(
            &app,
            token,
            reqwest::Method::POST,
            "/inventory/BAG-1/adjustments",
            Some(json!({ "on_hand": 0, "reason": "x" })),
        )
        .await;
        r.assert_problem(403, "forbidden");
        let r = send_as(&app, token, reqwest::Method::GET, "/inventory/BAG-1", None).await;
        r.assert_problem(403, "forbidden");
    }
    let anonymous = reqwest::Client::new()
        .get(app.url("/inventory/BAG-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let r = send_as(
        &app,
        &staff(&app),
        reqwest::Method::GET,
        "/inventory/BAG-1",
        None,
    )
    .await;
    assert_eq!(r.body["on_hand"], 5, "nothing changed");
}

#[tokio::test]
async fn bad_bodies_name_their_field() {
    let app = TestApp::start().await;
    let token = staff(&app);
    let post = |path: &'static str, body: Value| {
        send_as(&app, &token, reqwest::Method::POST, path, Some(body))
    };
    post("/inventory/X-1/receipts", json!({ "quantity": 0 }))
        .await
        .assert_problem(422, "inventory.invalid_quantity");
    let r = post("/inventory/X-1/receipts", json!({ "quantity": -1 })).await;
    r.assert_problem(422, "validation");
    assert_eq!(r.body["errors"][0]["field"], "quantity");
    assert_eq!(r.body["errors"][0]["code"], "inventory.invalid_quantity");
    post(
        "/inventory/X-1/receipts",
        json!({ "quantity": 1_000_000_001 }),
    )
    .await
    .assert_problem(422, "inventory.invalid_quantity");
    post("/inventory/X-1/receipts", json!({ "quantity": 1.5 }))
        .await
        .assert_problem(400, "invalid-body");
    post(
        "/inventory/X-1/receipts",
        json!({ "quantity": 1, "extra": 1 }),
    )
    .await
    .assert_problem(400, "invalid-body");
    post(
        "/inventory/X-1/adjustments",
        json!({ "on_hand": 1, "reason": "" }),
    )
    .await
    .assert_problem(422, "reason.invalid");
    post(
        "/inventory/X-1/adjustments",
        json!({ "on_hand": 1, "reason": "a\u{0}b" }),
    )
    .await
    .assert_problem(422, "reason.invalid");
    post("/inventory/X-1/adjustments", json!({ "on_hand": 1 }))
        .await
        .assert_problem(400, "invalid-body");
    receive(&app, "X-1", 999_999_999).await;
    post("/inventory/X-1/receipts", json!({ "quantity": 2 }))
        .await
        .assert_problem(409, "inventory.stock_above_ceiling");
}

#[tokio::test]
async fn a_retried_receipt_with_its_idempotency_key_counts_once() {
    let app = TestApp::start().await;
    let send = || {
        app.send(
            app.client
                .post(app.url("/inventory/CUP-1/receipts"))
                .bearer_auth(staff(&app))
                .header("idempotency-key", "delivery-7781")
                .json(&json!({ "quantity": 12 })),
        )
    };
    let first = send().await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = send().await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        again.header("idempotency-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(again.body, first.body);
    assert_eq!(again.etag(), first.etag());
    let other = app
        .send(
            app.client
                .post(app.url("/inventory/CUP-1/receipts"))
                .bearer_auth(staff(&app))
                .header("idempotency-key", "delivery-7781")
                .json(&json!({ "quantity": 13 })),
        )
        .await;
    other.assert_problem(422, "idempotency-key-reused");
    let r = send_as(
        &app,
        &staff(&app),
        reqwest::Method::GET,
        "/inventory/CUP-1",
        None,
    )
    .await;
    assert_eq!(r.body["on_hand"], 12);
    assert_eq!(r.body["version"], 1);
}

/// The handler without HTTP: a repeated reservation, release or commit is
/// answered from the stream and appends nothing.
#[tokio::test]
async fn repeated_reservation_steps_append_nothing() {
    let app = TestApp::start().await;
    receive(&app, "LAMP-1", 5).await;
    let sku = || Sku::new("LAMP-1").unwrap();
    let (a, b) = (handler(&app), handler(&app));
    let ctx = CommandContext::default();
    let o = order();
    let reserve = InventoryCommand::Reserve {
        order_id: o,
        quantity: 2,
    };
    let version =
        |outcome: Result<CommandOutcome<orderflow_command_api::Inventory>, _>| match outcome {
            Ok(CommandOutcome::Applied { state, result }) => (
                state.version,
                result.stream_version,
                state.reserved,
                state.on_hand,
            ),
            other => panic!("{other:?}"),
        };
    assert_eq!(
        version(a.execute(sku(), &reserve, &ctx).await),
        (2, 2, 2, 5)
    );
    // b has never seen the sku; a has it cached: both answer from the truth.
    assert_eq!(
        version(b.execute(sku(), &reserve, &ctx).await),
        (2, 2, 2, 5)
    );
    assert_eq!(
        version(a.execute(sku(), &reserve, &ctx).await),
        (2, 2, 2, 5)
    );
    let mismatch = a
        .execute(
            sku(),
            &InventoryCommand::Reserve {
                order_id: o,
                quantity: 3,
            },
            &ctx,
        )
        .await;
    assert!(
        matches!(
            mismatch,
            Err(CommandError::Rejected(
                InventoryError::ReservationMismatch { .. }
            ))
        ),
        "{mismatch:?}"
    );
    let commit = InventoryCommand::Commit { order_id: o };
    assert_eq!(version(b.execute(sku(), &commit, &ctx).await), (3, 3, 0, 3));
    assert_eq!(version(a.execute(sku(), &commit, &ctx).await), (3, 3, 0, 3));
    let release = InventoryCommand::Release { order_id: o };
    assert_eq!(
        version(a.execute(sku(), &release, &ctx).await),
        (3, 3, 0, 3)
    );
    // Releasing stock of a sku that never had any: nothing to give back.
    let nothing = a
        .execute(Sku::new("NEVER-1").unwrap(), &release, &ctx)
        .await;
    assert!(
        matches!(nothing, Ok(CommandOutcome::Applied { ref state, .. }) if state.version == 0),
        "{nothing:?}"
    );
    let (state, events) = a.load(sku()).await.unwrap();
    assert_eq!((state.version, events.len()), (3, 3));
}

/// Two handlers (two processes) race 16 one-unit reservations for 5
/// units: exactly 5 win, 11 are refused for lack of stock, none oversold.
/// (Eight per handler: each runs its own one at a time, so a command loses
/// at most eight races in a row, within the handler's ten attempts.)
#[tokio::test]
async fn racing_handlers_never_oversell() {
    let app = TestApp::start().await;
    receive(&app, "HOT-1", 5).await;
    let (a, b) = (handler(&app), handler(&app));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let h = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let command = InventoryCommand::Reserve {
                    order_id: order(),
                    quantity: 1,
                };
                h.execute(
                    Sku::new("HOT-1").unwrap(),
                    &command,
                    &CommandContext::default(),
                )
                .await
            })
        })
        .collect();
    let (mut won, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(CommandOutcome::Applied { .. }) => won += 1,
            Err(CommandError::Rejected(InventoryError::InsufficientStock { .. })) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((won, refused), (5, 11));
    let (state, _) = a.load(Sku::new("HOT-1").unwrap()).await.unwrap();
    assert_eq!(
        (state.on_hand, state.reserved, state.reservations.len()),
        (5, 5, 5)
    );
}
