//! Subscriptions over WebSocket (graphql-transport-ws), fed by the
//! projectors' change notices.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use orderflow_event_store::pg_admin::{self, UncheckedEvent};
use orderflow_event_store::{EventStore, NewEvent, StreamId};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{Stack, Step, path_to};

pub(super) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connection as the back office (every order).
pub(super) async fn connect(env: &Stack) -> Ws {
    connect_as(env, &env.back_office_token()).await
}

/// A connection whose `connection_init` carries `token`, as browser
/// clients send it (they cannot set headers on a WebSocket).
pub(super) async fn connect_as(env: &Stack, token: &str) -> Ws {
    let mut req = env.ws.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "connection_ack");
    ws
}

pub(super) async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next protocol message (pings answered, skipped).
pub(super) async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "ping" {
                send(ws, json!({ "type": "pong" })).await;
                continue;
            }
            return v;
        }
    }
}

pub(super) async fn subscribe(ws: &mut Ws, id: &str, query: &str, variables: Value) {
    send(
        ws,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }),
    )
    .await;
}

/// Notice subscriptions are set up when the server first polls the stream;
/// give it a moment before changing anything.
pub(super) async fn settle_subscription() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

const LIFECYCLE: [&str; 6] = [
    "DRAFT",
    "SUBMITTED",
    "CONFIRMED",
    "PAID",
    "SHIPPED",
    "DELIVERED",
];

#[tokio::test]
async fn order_changed_delivers_every_change_in_order() {
    let env = Stack::start().await;
    let (id, p) = env.create_order("sub", "EUR", &[("SKU-1", 2, 300)]).await;
    env.settle(&p).await;
    let mut ws = connect(&env).await;
    subscribe(
        &mut ws,
        "1",
        "subscription($id: UUID!) { orderChanged(id: $id) { id status version position
            total { amountMinor } items { sku quantity } } }",
        json!({ "id": id }),
    )
    .await;
    // A second subscription, to everything: it shows when another order's
    // change has reached subscribers (see the end).
    subscribe(
        &mut ws,
        "all",
        "subscription { ordersChanged { id status } }",
        json!({}),
    )
    .await;
    settle_subscription().await;

    // What coalescing allows: one delivery per projector batch that changed
    // the order, showing the order as that batch left it; changes folded in
    // the same batch show only as its result. Each step here waits for the
    // projections first, so each is its own batch and every change must
    // arrive, in order, none skipped.
    let mut expected = Vec::new();
    for step in path_to("delivered") {
        let p = env.advance(id, &[step]).await;
        env.settle(&p).await;
        let status = env
            .gql(
                "query($id: UUID!) { order(id: $id) { status } }",
                json!({ "id": id }),
            )
            .await;
        expected.push(
            status.data()["order"]["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(expected, &LIFECYCLE[1..]);

    let mut versions = Vec::new();
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("DELIVERED") {
        let m = recv(&mut ws).await;
        assert_eq!(m["type"], "next", "{m}");
        if m["id"] == "all" {
            continue;
        }
        assert_eq!(m["id"], "1");
        let o = &m["payload"]["data"]["orderChanged"];
        assert_eq!(o["id"], id.to_string());
        assert_eq!(o["total"]["amountMinor"], 600);
        assert_eq!(o["items"], json!([{ "sku": "SKU-1", "quantity": 2 }]));
        versions.push(o["version"].as_i64().unwrap());
        statuses.push(o["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, expected, "every change, in order");
    // Created with its item and address (3), then one version per step.
    assert_eq!(versions, [4, 5, 6, 7, 8]);

    // Another order's changes never show up here. Wait until they have
    // reached the subscription to everything (so they were projected and
    // their notices sent), then end this one: nothing of it comes first.
    let (other, _) = env.create_order("sub", "EUR", &[("SKU-2", 1, 100)]).await;
    let p = env.advance(other, &[Step::Submit]).await;
    env.settle(&p).await;
    let other_submitted = json!({ "id": other.to_string(), "status": "SUBMITTED" });
    loop {
        let m = recv(&mut ws).await;
        assert_eq!(m["type"], "next", "{m}");
        assert_eq!(m["id"], "all", "only the subscription to everything: {m}");
        if m["payload"]["data"]["ordersChanged"] == other_submitted {
            break;
        }
    }
    send(&mut ws, json!({ "id": "1", "type": "complete" })).await;
    let m = recv(&mut ws).await;
    assert_eq!(m["type"], "complete", "{m}");
    assert_eq!(m["id"], "1", "{m}");
    env.finish().await;
}

/// Orders committed together land in one projector batch. Each notice
/// carries its own order's position, so a subscriber answers each with one
/// read; with the batch's end position it re-read (up to 20 times, 25 ms
/// apart) every order but the batch's last.
#[tokio::test]
async fn notices_of_one_batch_are_answered_without_rereads() {
    let env = Stack::start().await;
    let (template, p) = env.create_order("batch", "EUR", &[("SKU-1", 1, 100)]).await;
    env.settle(&p).await;
    let mut ws = connect(&env).await;
    subscribe(
        &mut ws,
        "all",
        "subscription { ordersChanged { id status } }",
        json!({}),
    )
    .await;
    settle_subscription().await;

    // Ten new orders in one transaction, each opened like the template.
    let ids: Vec<uuid::Uuid> = (0..10).map(|_| uuid::Uuid::now_v7()).collect();
    let before = env.api.db().statements();
    let template_stream = StreamId::new(format!("order-{template}")).unwrap();
    let created = env.store.read_stream(&template_stream).await.unwrap()[0].clone();
    let copies: Vec<UncheckedEvent> = ids
        .iter()
        .map(|id| {
            let mut payload = created.payload.clone();
            payload["order_id"] = json!(id.to_string());
            UncheckedEvent {
                stream_id: StreamId::new(format!("order-{id}")).unwrap(),
                stream_version: 1,
                event: NewEvent {
                    event_id: uuid::Uuid::now_v7(),
                    event_type: created.event_type.clone(),
                    schema_version: created.schema_version,
                    payload,
                    metadata: created.metadata.clone(),
                },
            }
        })
        .collect();
    pg_admin::insert(&env.store, &copies).await.unwrap();

    let mut seen = std::collections::HashSet::new();
    let started = std::time::Instant::now();
    while seen.len() < ids.len() {
        let m = recv(&mut ws).await;
        assert_eq!(m["type"], "next", "{m}");
        let id: uuid::Uuid = m["payload"]["data"]["ordersChanged"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(ids.contains(&id), "{m}");
        seen.insert(id);
    }
    let statements = env.api.db().statements() - before;
    println!(
        "{} orders delivered in {:?} with {statements} statements",
        ids.len(),
        started.elapsed()
    );
    // One read per group of notices at most (there are ten notices).
    assert!(
        statements <= ids.len() as u64,
        "{statements} statements for {} notices: subscribers re-read",
        ids.len()
    );
    env.finish().await;
}

#[tokio::test]
async fn orders_changed_delivers_the_matching_orders() {
    let env = Stack::start().await;
    let mut ws = connect(&env).await;
    let query = "subscription($f: OrderFilter) { ordersChanged(filter: $f) { id status } }";
    subscribe(&mut ws, "paid", query, json!({ "f": { "status": "PAID" } })).await;
    subscribe(&mut ws, "all", query, json!({ "f": null })).await;
    settle_subscription().await;
    let (a, _) = env.create_order("s1", "EUR", &[("SKU-1", 1, 100)]).await;
    let (b, _) = env.create_order("s2", "EUR", &[("SKU-1", 1, 100)]).await;
    env.advance(b, &path_to("confirmed")).await;
    env.advance(a, &path_to("paid")).await;

    let mut paid = Vec::new();
    let mut all = Vec::new();
    let a_paid = json!({ "id": a.to_string(), "status": "PAID" });
    let b_confirmed = json!({ "id": b.to_string(), "status": "CONFIRMED" });
    while !(paid.contains(&a_paid) && all.contains(&a_paid) && all.contains(&b_confirmed)) {
        let m = recv(&mut ws).await;
        assert_eq!(m["type"], "next", "{m}");
        let o = m["payload"]["data"]["ordersChanged"].clone();
        match m["id"].as_str().unwrap() {
            "paid" => paid.push(o),
            _ => all.push(o),
        }
    }
    assert_eq!(paid, [a_paid], "only matching orders");
    assert!(all.len() >= 2, "{all:?}");
    env.finish().await;
}

#[tokio::test]
async fn websocket_operations_get_the_same_limits() {
    let env = Stack::start_with(|c| c.limits.max_subscriptions_per_connection = 2).await;
    let mut ws = connect(&env).await;
    let q = "subscription { ordersChanged { id } }";
    subscribe(&mut ws, "1", q, json!({})).await;
    subscribe(&mut ws, "2", q, json!({})).await;
    subscribe(&mut ws, "3", q, json!({})).await;
    let m = recv(&mut ws).await;
    assert_eq!(m["id"], "3");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert_eq!(recv(&mut ws).await["type"], "complete");
    // Ending one frees its slot.
    send(&mut ws, json!({ "id": "1", "type": "complete" })).await;
    assert_eq!(recv(&mut ws).await["type"], "complete");

    // Too deep, bad input: refused with a code, like over HTTP.
    let deep = "subscription { ordersChanged { customer { orders { edges { node { customer {
        orders { edges { node { customer { orders { edges { node { id } } } } } } } } } } } } } }";
    subscribe(&mut ws, "4", deep, json!({})).await;
    let m = recv(&mut ws).await;
    assert_eq!(m["id"], "4");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{m}"
    );
    let message = m["payload"]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("levels deep"), "{message}");
    assert_eq!(recv(&mut ws).await["type"], "complete");
    subscribe(
        &mut ws,
        "5",
        "subscription { orderChanged(id: \"nope\") { id } }",
        json!({}),
    )
    .await;
    let m = recv(&mut ws).await;
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{m}"
    );
    assert!(
        m["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("UUID"),
        "{m}"
    );
    assert_eq!(recv(&mut ws).await["type"], "complete");

    // Queries work over the socket too.
    subscribe(&mut ws, "6", "{ projections { name } }", json!({})).await;
    let m = recv(&mut ws).await;
    assert_eq!(m["id"], "6");
    assert_eq!(
        m["payload"]["data"]["projections"].as_array().map(Vec::len),
        Some(orderflow_projections::PROJECTIONS.len()),
        "{m}"
    );
    env.finish().await;
}
