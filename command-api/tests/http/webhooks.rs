//! `POST /webhooks/payments` over real HTTP and Postgres: a signed
//! notification records the payment once however often it is delivered;
//! anything not signed with the webhook secret, or signed too long ago, is
//! a 401 problem and changes nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orderflow_auth::Role;
use orderflow_command_api::CommandApiConfig;
use orderflow_payments::{SharedSecret, WebhookConfig, sign};
use serde_json::{Value, json};

use crate::app::{Resp, TestApp, money};

const SECRET: &str = "whsec_test_secret";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn app() -> TestApp {
    TestApp::start_with(CommandApiConfig {
        payment_webhook: WebhookConfig {
            secret: SharedSecret::new(SECRET),
            tolerance: Duration::from_secs(300),
        },
        ..CommandApiConfig::default()
    })
    .await
}

/// A confirmed order of 25.00 EUR, ready to be paid.
async fn confirmed_order(app: &TestApp) -> String {
    let id = app.create_order().await;
    for step in ["submit", "confirm"] {
        let r = app.post_empty(&format!("/orders/{id}/{step}")).await;
        assert_eq!(r.status, 200, "{step}: {}", r.body);
    }
    id
}

fn notification(id: &str, order: &str) -> Value {
    json!({
        "notification_id": id,
        "order_id": order,
        "payment_reference": "pay_3QdX8n",
        "amount": money(2500),
    })
}

/// Sends `body` as the provider would, with `signature` (if any) and no
/// bearer token.
async fn deliver_raw(app: &TestApp, body: &[u8], signature: Option<String>) -> Resp {
    let mut request = reqwest::Client::new()
        .post(app.url("/webhooks/payments"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("Orderflow-Signature", signature);
    }
    app.send_exactly(request.build().unwrap()).await
}

/// Sends `body` signed with the webhook secret, now.
async fn deliver(app: &TestApp, body: &Value) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = sign(&SharedSecret::new(SECRET).unwrap(), now(), &bytes);
    deliver_raw(app, &bytes, Some(signature)).await
}

async fn order(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/orders/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_signed_notification_records_the_payment_once() {
    let app = app().await;
    let id = confirmed_order(&app).await;
    let first = deliver(&app, &notification("evt_1", &id)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.body,
        json!({ "notification_id": "evt_1", "order_id": id, "outcome": "recorded" })
    );
    assert!(first.header("x-orderflow-position").is_some());

    let paid = order(&app, &id).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["payment_id"], "pay_3QdX8n");
    assert_eq!(paid["paid"], money(2500));
    let versions = app.event_count(&id).await;

    // The audit trail names the provider, and the notification as cause.
    let history = app.get(&format!("/orders/{id}/events")).await.body;
    let recorded = history["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(recorded["event_type"], "PaymentRecorded");
    assert_eq!(recorded["metadata"]["actor"], "payment-provider");
    assert_eq!(recorded["metadata"]["actor_roles"], json!([]));
    assert_eq!(
        recorded["metadata"]["causation_id"],
        "payment-notification:evt_1"
    );

    // Redelivered (signed anew, as providers do): a replay, no second payment.
    let again = deliver(&app, &notification("evt_1", &id)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["outcome"], "already_recorded");
    assert_eq!(app.event_count(&id).await, versions);

    // The same payment under another notification id: still one payment.
    let other = deliver(&app, &notification("evt_2", &id)).await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_eq!(other.body["outcome"], "already_recorded");
    assert_eq!(app.event_count(&id).await, versions);

    // The first notification id reused for something else: refused.
    let mut changed = notification("evt_1", &id);
    changed["amount"] = money(2400);
    deliver(&app, &changed)
        .await
        .assert_problem(422, "notification.reused");
    assert_eq!(order(&app, &id).await["paid"], money(2500));
}

#[tokio::test]
async fn redeliveries_racing_each_other_record_one_payment() {
    let app = app().await;
    let id = confirmed_order(&app).await;
    let versions = app.event_count(&id).await;
    let body = notification("evt_race", &id);
    let answers = futures::future::join_all((0..8).map(|_| deliver(&app, &body))).await;
    let mut recorded = 0;
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body["outcome"] == "recorded" {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1, "{answers:?}");
    assert_eq!(app.event_count(&id).await, versions + 1);
}

#[tokio::test]
async fn unsigned_badly_signed_or_stale_notifications_are_refused() {
    let app = app().await;
    let id = confirmed_order(&app).await;
    let body = serde_json::to_vec(&notification("evt_1", &id)).unwrap();
    let secret = SharedSecret::new(SECRET).unwrap();
    let wrong = SharedSecret::new("not-the-secret").unwrap();
    let tampered = serde_json::to_vec(&{
        let mut n = notification("evt_1", &id);
        n["payment_reference"] = json!("pay_attacker");
        n
    })
    .unwrap();
    let cases: Vec<(&str, &[u8], Option<String>, &str)> = vec![
        ("no header", &body, None, "signature.missing"),
        (
            "garbage",
            &body,
            Some("garbage".into()),
            "signature.malformed",
        ),
        (
            "another secret",
            &body,
            Some(sign(&wrong, now(), &body)),
            "signature.mismatch",
        ),
        (
            "another body",
            &tampered,
            Some(sign(&secret, now(), &body)),
            "signature.mismatch",
        ),
        (
            "too old",
            &body,
            Some(sign(&secret, now() - 301, &body)),
            "signature.stale",
        ),
        (
            "from the future",
            &body,
            Some(sign(&secret, now() + 3600, &body)),
            "signature.stale",
        ),
    ];
    for (case, body, signature, code) in cases {
        let r = deliver_raw(&app, body, signature).await;
        r.assert_problem(401, code);
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some(orderflow_command_api::SIGNATURE_CHALLENGE),
            "{case}"
        );
        assert_eq!(
            r.body["type"], "urn:orderflow:problem:bad-signature",
            "{case}"
        );
    }
    // A bearer token, however mighty, is no signature.
    let token = app.auth.token(
        "ops-1",
        &[Role::Customer, Role::Staff, Role::Finance, Role::Operator],
    );
    let request = reqwest::Client::new()
        .post(app.url("/webhooks/payments"))
        .bearer_auth(token)
        .json(&notification("evt_1", &id))
        .build()
        .unwrap();
    app.send_exactly(request)
        .await
        .assert_problem(401, "signature.missing");
    let still = order(&app, &id).await;
    assert_eq!(still["status"], "confirmed");
    assert_eq!(still["payment_id"], Value::Null);
}

#[tokio::test]
async fn without_a_webhook_secret_every_notification_is_refused() {
    let app = TestApp::start().await;
    let id = confirmed_order(&app).await;
    deliver(&app, &notification("evt_1", &id))
        .await
        .assert_problem(401, "signature.not_configured");
    assert_eq!(order(&app, &id).await["status"], "confirmed");
}

#[tokio::test]
async fn authentic_but_wrong_notifications_get_precise_answers() {
    let app = app().await;
    let id = confirmed_order(&app).await;
    let secret = SharedSecret::new(SECRET).unwrap();

    let not_json = b"{\"notification_id\": ";
    deliver_raw(&app, not_json, Some(sign(&secret, now(), not_json)))
        .await
        .assert_problem(400, "malformed-json");
    deliver(&app, &json!({ "notification_id": "evt_x" }))
        .await
        .assert_problem(400, "invalid-body");

    let r = deliver(
        &app,
        &json!({
            "notification_id": "bad id",
            "order_id": "not-a-uuid",
            "payment_reference": "pay_1",
            "amount": { "amount_minor": 2500, "currency": "eur" },
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
    assert_eq!(fields, ["notification_id", "order_id", "amount.currency"]);

    let unknown = uuid::Uuid::now_v7().to_string();
    deliver(&app, &notification("evt_404", &unknown))
        .await
        .assert_problem(404, "order.not_found");

    let mut short = notification("evt_short", &id);
    short["amount"] = money(100);
    deliver(&app, &short)
        .await
        .assert_problem(409, "payment.amount_mismatch");

    let body = serde_json::to_vec(&notification("evt_text", &id)).unwrap();
    let request = reqwest::Client::new()
        .post(app.url("/webhooks/payments"))
        .header("content-type", "text/plain")
        .header("Orderflow-Signature", sign(&secret, now(), &body))
        .body(body)
        .build()
        .unwrap();
    app.send_exactly(request)
        .await
        .assert_problem(415, "unsupported-media-type");

    assert_eq!(order(&app, &id).await["status"], "confirmed");
}
