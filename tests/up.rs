//! `orderflow up` as a user runs it: one process with the command API, the
//! relay, the projector and the query API. Commands over REST, then GraphQL
//! over HTTP (with the command's position token) and over WebSocket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use orderflow_testkit::TestDb;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use support::Service;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn customer_of(n: usize) -> String {
    format!("customer-{}", n % 3)
}

fn order_body(n: usize) -> Value {
    json!({
        "customer_id": customer_of(n),
        "currency": "EUR",
        "channel": "web",
        "items": [{ "sku": "MUG", "name": "Mug", "quantity": 2,
                    "unit_price": { "amount_minor": 1250, "currency": "EUR" } }],
        "shipping_address": { "name": "A Customer", "line1": "1 Main Street",
                              "city": "Lyon", "postal_code": "69001", "country": "FR" }
    })
}

/// POSTs a command; the body and the position token of the response.
async fn command(
    http: &reqwest::Client,
    url: String,
    customer: &str,
    body: Option<Value>,
) -> (Value, String) {
    let mut req = http
        .post(url)
        .bearer_auth(support::process::token_for(customer));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let token = resp.headers()["x-orderflow-position"]
        .to_str()
        .unwrap()
        .to_owned();
    (resp.json().await.unwrap(), token)
}

/// A query as staff (every order), read-your-writes after `token`.
async fn graphql(http: &reqwest::Client, url: &str, token: &str, query: &str) -> Value {
    http.post(url)
        .bearer_auth(support::process::token(
            "up-staff",
            &[orderflow_auth::Role::Staff],
        ))
        .header("X-Orderflow-Position", token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn ws_recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "ping" {
                ws_send(ws, json!({ "type": "pong" })).await;
                continue;
            }
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_commands_queries_and_subscriptions() {
    let events_db = TestDb::new().await;
    let read_db = TestDb::new().await;
    let saga_db = TestDb::new().await;
    let tag = Uuid::now_v7().simple().to_string();
    let tag = &tag[tag.len() - 10..];
    let env = [
        ("DATABASE_URL", events_db.url().to_owned()),
        ("READ_DATABASE_URL", read_db.url().to_owned()),
        ("FULFILMENT_DATABASE_URL", saga_db.url().to_owned()),
        ("EVENTS_STREAM", format!("UP_{tag}")),
        ("SUBJECT_PREFIX", format!("up{tag}")),
    ];
    let any = "127.0.0.1:0";
    let mut up = Service::start(
        "up",
        &["up", "--command-api-addr", any, "--query-api-addr", any],
        &env,
    );
    let api = up.url("command API").await;
    let graphql_url = up.url("query API").await;
    let http = reqwest::Client::new();

    // Ready once the read models are built.
    let ready = graphql_url.replace("/graphql", "/readyz");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(&ready)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "never ready:\n{}", up.dump());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Read-your-writes: a query sent with the command's token sees the
    // write, fresh, every time.
    for n in 0..20 {
        let (order, token) = command(
            &http,
            format!("{api}/orders"),
            &customer_of(n),
            Some(order_body(n)),
        )
        .await;
        let id = order["id"].as_str().unwrap();
        let v = graphql(
            &http,
            &graphql_url,
            &token,
            &format!(r#"{{ order(id: "{id}") {{ status channel version total {{ amountMinor currency }} }} }}"#),
        )
        .await;
        assert_eq!(v["extensions"]["consistency"]["fresh"], true, "{v}");
        let o = &v["data"]["order"];
        assert_eq!(o["status"], "DRAFT", "{v}");
        assert_eq!(o["channel"], "WEB", "{v}");
        assert_eq!(o["version"], order["version"], "{v}");
        assert_eq!(
            o["total"],
            json!({ "amountMinor": 2500, "currency": "EUR" })
        );
    }

    // A subscription over WebSocket delivers the order's next state.
    let (order, _) = command(
        &http,
        format!("{api}/orders"),
        &customer_of(99),
        Some(order_body(99)),
    )
    .await;
    let id = order["id"].as_str().unwrap().to_owned();
    let mut req = graphql_url
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    // The token on the upgrade request (clients that can set headers).
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", support::process::token_for(&customer_of(99)))
            .parse()
            .unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws_send(&mut ws, json!({ "type": "connection_init" })).await;
    assert_eq!(ws_recv(&mut ws).await["type"], "connection_ack");
    ws_send(
        &mut ws,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($id: UUID!) { orderChanged(id: $id) { id status version } }",
            "variables": { "id": id } } }),
    )
    .await;
    // The subscription attaches to the change notices on its first poll.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (submitted, token) = command(
        &http,
        format!("{api}/orders/{id}/submit"),
        &customer_of(99),
        None,
    )
    .await;
    loop {
        let m = ws_recv(&mut ws).await;
        assert_eq!(m["type"], "next", "{m}");
        let o = &m["payload"]["data"]["orderChanged"];
        assert_eq!(o["id"], id.as_str());
        // Its next state: submitted, or already rejected: `up` runs the
        // fulfilment saga, and no MUG is in stock.
        match o["status"].as_str() {
            Some("SUBMITTED") => {
                assert_eq!(o["version"], submitted["version"]);
                break;
            }
            Some("REJECTED") => {
                assert!(o["version"].as_i64() > submitted["version"].as_i64(), "{m}");
                break;
            }
            _ => {}
        }
    }

    // Lists and reports read the same rows. Order 99 is submitted, or
    // rejected by the saga by now (CI saw both).
    let v = graphql(
        &http,
        &graphql_url,
        &token,
        r#"{ orders(first: 50, filter: { status: [DRAFT, SUBMITTED, REJECTED] }) { totalCount }
             customer(id: "customer-0") { stats { orderCount } } }"#,
    )
    .await;
    assert_eq!(v["data"]["orders"]["totalCount"], 21, "{v}");
    // customer-0 placed orders 0, 3, …, 18 and 99: eight of them.
    assert_eq!(v["data"]["customer"]["stats"]["orderCount"], 8, "{v}");

    // SIGTERM stops every service in the process, cleanly.
    up.terminate();
    let status = up.exit_status(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "up after SIGTERM: {status}\n{}",
        up.dump()
    );
}
