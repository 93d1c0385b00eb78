//! WebSocket caps: connections per client address (the upgrade is refused
//! with 429 and `LIMIT_EXCEEDED`) and subscriptions per process (the new
//! subscription gets a `LIMIT_EXCEEDED` error); other clients are served.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::support::{Stack, Step};

type Ws = WebSocketStream<TcpStream>;

/// A graphql-transport-ws connection from `local` (any loopback address
/// works as a client address), or the HTTP answer refusing it.
async fn open_from(env: &Stack, local: IpAddr) -> Result<Ws, (u16, Value)> {
    let server: SocketAddr = env
        .ws
        .trim_start_matches("ws://")
        .trim_end_matches("/graphql")
        .parse()
        .unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    let stream = socket.connect(server).await.unwrap();
    let mut req = env.ws.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((mut ws, _)) => {
            let auth = format!("Bearer {}", env.staff_token());
            send(
                &mut ws,
                json!({ "type": "connection_init", "payload": { "Authorization": auth } }),
            )
            .await;
            assert_eq!(recv(&mut ws).await["type"], "connection_ack");
            Ok(ws)
        }
        Err(WsError::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((resp.status().as_u16(), body))
        }
        Err(e) => panic!("WebSocket handshake: {e}"),
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next protocol message within `within` (pings answered, skipped).
async fn recv_within(ws: &mut Ws, within: Duration) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(within, ws.next()).await.ok()?;
        if let Message::Text(t) = msg.unwrap().unwrap() {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "ping" {
                send(ws, json!({ "type": "pong" })).await;
                continue;
            }
            return Some(v);
        }
    }
}

async fn recv(ws: &mut Ws) -> Value {
    recv_within(ws, Duration::from_secs(10))
        .await
        .expect("a message within 10 s")
}

const ORDER_CHANGED: &str = "subscription($id: UUID!) { orderChanged(id: $id) { id status } }";

async fn subscribe(ws: &mut Ws, id: &str, order: &str) {
    send(
        ws,
        json!({ "id": id, "type": "subscribe",
                "payload": { "query": ORDER_CHANGED, "variables": { "id": order } } }),
    )
    .await;
}

/// The answer a subscription refused for the process-wide cap gets (the
/// graphql-transport-ws server sends errors as a `next`, then `complete`).
fn refused(m: &Value, id: &str) -> bool {
    m["type"] == "next"
        && m["id"] == id
        && m["payload"]["data"].is_null()
        && m["payload"]["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
}

const HOME: [u8; 4] = [127, 0, 0, 1];
const NEIGHBOUR: [u8; 4] = [127, 0, 0, 2];

#[tokio::test]
async fn one_address_is_capped_and_another_is_served() {
    let env = Stack::start_with(|c| c.limits.max_ws_connections_per_client = 2).await;
    let mut held = vec![
        open_from(&env, HOME.into()).await.unwrap(),
        open_from(&env, HOME.into()).await.unwrap(),
    ];
    for _ in 0..3 {
        let Err((status, body)) = open_from(&env, HOME.into()).await else {
            panic!("a third connection from one address was accepted");
        };
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("2 WebSocket connections"), "{message}");
    }
    // Another address is not affected, nor are queries.
    let mut neighbour = open_from(&env, NEIGHBOUR.into())
        .await
        .expect("another address connects");
    let r = env.gql("{ __typename }", json!({})).await;
    assert_eq!(r.data()["__typename"], "QueryRoot");

    // Closing one frees its slot (once the server has seen the close).
    let mut closing = held.pop().unwrap();
    closing.close(None).await.unwrap();
    drop(closing);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let reopened = loop {
        match open_from(&env, HOME.into()).await {
            Ok(ws) => break ws,
            Err((429, _)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the freed slot was not given back: {e:?}"),
        }
    };
    held.push(reopened);
    neighbour.close(None).await.unwrap();
    env.finish().await;
}

#[tokio::test]
async fn subscriptions_are_capped_per_process() {
    let env = Stack::start_with(|c| c.limits.max_subscriptions_total = 2).await;
    let (order, position) = env.create_order("cap", "EUR", &[("SKU-1", 1, 100)]).await;
    env.settle(&position).await;
    let order = order.to_string();
    let mut a = open_from(&env, HOME.into()).await.unwrap();
    let mut b = open_from(&env, NEIGHBOUR.into()).await.unwrap();
    subscribe(&mut a, "a1", &order).await;
    subscribe(&mut a, "a2", &order).await;
    // Both taken before the third asks (nothing comes back for them yet).
    assert_eq!(recv_within(&mut a, Duration::from_millis(300)).await, None);

    subscribe(&mut b, "b1", &order).await;
    let m = recv(&mut b).await;
    assert!(refused(&m, "b1"), "{m}");
    assert_eq!(
        recv(&mut b).await,
        json!({ "type": "complete", "id": "b1" })
    );

    // Completing one frees its slot.
    send(&mut a, json!({ "id": "a2", "type": "complete" })).await;
    let mut accepted = None;
    'attempts: for attempt in 0..20 {
        let id = format!("b{}", attempt + 2);
        subscribe(&mut b, &id, &order).await;
        loop {
            match recv_within(&mut b, Duration::from_millis(300)).await {
                None => {
                    accepted = Some(id);
                    break 'attempts;
                }
                Some(m) if m["type"] == "complete" => continue,
                Some(m) => {
                    assert!(refused(&m, &id), "{m}");
                    continue 'attempts;
                }
            }
        }
    }
    let id = accepted.expect("the completed subscription's slot was not given back");
    // The accepted one works: the next change arrives on it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.advance(order.parse().unwrap(), &[Step::Submit]).await;
    let m = recv(&mut b).await;
    assert_eq!(m["type"], "next", "{m}");
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["payload"]["data"]["orderChanged"]["status"], "SUBMITTED");
    env.finish().await;
}
