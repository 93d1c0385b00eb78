//! Idempotency-Key: a retry replays the first response; a reused key with
//! another request is refused; racing twins append once.

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
    // position token. Only the per-request headers differ.
    let id = first.body["id"].as_str().unwrap();
    assert_eq!(first.header("location"), Some(format!("/orders/{id}")));
    let per_request = ["date", "x-correlation-id", "idempotency-replayed"];
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

    let mut other = new_order();
    other["customer_id"] = json!("someone-else");
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
