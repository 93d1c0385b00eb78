//! Who reads what over GraphQL, with real tokens signed by the test's key:
//! no token or a bad one is a 401 over HTTP and a refused WebSocket; each
//! root field answers each role as `query-api/src/access.rs` says (the
//! fields are read from the served schema, so a new one without a rule
//! fails here); customers see their own orders only, in lists, counts,
//! nested fields and subscriptions.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use orderflow_auth::{Role, SigningKey, TokenClaims, mint, unix_now};
use orderflow_query_api::{UNAUTHORIZED_CLOSE, rule_for};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use super::subscriptions::{Ws, connect_as, recv, send, settle_subscription, subscribe};
use crate::support::{Stack, Step};

/// The customer whose order the matrix reads.
const OWNER: &str = "customer-a";

/// A token with one role; a customer's is [`OWNER`]'s.
fn token_of(env: &Stack, role: Role) -> String {
    match role {
        Role::Customer => env.token(OWNER, &[role]),
        other => env.token(&format!("{other}-1"), &[other]),
    }
}

/// The root fields the service serves: `(queries, subscriptions)`.
async fn root_fields(env: &Stack) -> (Vec<String>, Vec<String>) {
    let r = env
        .gql(
            "{ __schema { queryType { fields { name } } subscriptionType { fields { name } } } }",
            json!({}),
        )
        .await;
    let names = |kind: &str| -> Vec<String> {
        r.data()["__schema"][kind]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    };
    (names("queryType"), names("subscriptionType"))
}

/// A document reading Query.`field`. A field without one fails the matrix:
/// add it here, and its rule to `query-api/src/access.rs`.
fn query_reading(field: &str, order: Uuid) -> String {
    match field {
        "order" => format!(r#"{{ order(id: "{order}") {{ id }} }}"#),
        "orders" => "{ orders(first: 1) { totalCount } }".into(),
        "customer" => format!(r#"{{ customer(id: "{OWNER}") {{ id }} }}"#),
        "salesByDay" => r#"{ salesByDay(from: "2025-01-01", to: "2025-01-02") { day } }"#.into(),
        "topProducts" => "{ topProducts { sku } }".into(),
        "projections" => "{ projections { name } }".into(),
        "product" => r#"{ product(sku: "SKU-1") { sku stock { available } } }"#.into(),
        "lowStock" => "{ lowStock(below: 10) { sku } }".into(),
        other => panic!(
            "Query.{other} has no document in this matrix: add one, and a rule in \
             query-api/src/access.rs"
        ),
    }
}

/// The same for Subscription.`field`.
fn subscription_reading(field: &str, order: Uuid) -> (&'static str, Value) {
    match field {
        "orderChanged" => (
            "subscription($id: UUID!) { orderChanged(id: $id) { id status } }",
            json!({ "id": order }),
        ),
        "ordersChanged" => ("subscription { ordersChanged { id status } }", json!({})),
        other => panic!(
            "Subscription.{other} has no document in this matrix: add one, and a rule in \
             query-api/src/access.rs"
        ),
    }
}

fn assert_unauthorized(r: &crate::support::Gql, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    assert_eq!(r.body["type"], orderflow_auth::UNAUTHORIZED_TYPE, "{what}");
}

#[tokio::test]
async fn every_root_field_answers_each_role_as_the_table_says() {
    let env = Stack::start().await;
    let (order, p) = env.create_order(OWNER, "EUR", &[("SKU-1", 1, 100)]).await;
    env.settle(&p).await;
    let (queries, subscriptions) = root_fields(&env).await;
    assert!(
        queries.len() >= 8 && subscriptions.len() >= 2,
        "{queries:?}"
    );

    for field in &queries {
        let doc = query_reading(field, order);
        assert_unauthorized(&env.gql_as(None, &doc, json!({})).await, field);
        let allowed = rule_for(&format!("Query.{field}")).roles();
        for role in Role::ALL {
            let r = env
                .gql_as(Some(&token_of(&env, role)), &doc, json!({}))
                .await;
            assert_eq!(r.status, 200, "{field} as {role}: {}", r.body);
            if allowed.contains(&role) {
                assert!(!r.data()[field].is_null(), "{field} as {role}: {}", r.body);
            } else {
                let message = r.only_error("FORBIDDEN");
                assert!(message.contains(field.as_str()), "{message}");
                assert_eq!(r.body["errors"][0]["path"], json!([field]), "{role}");
            }
        }
    }

    // Each role subscribes to every subscription field on one connection;
    // one change to the order then reaches exactly the allowed ones, and
    // the others were refused at once.
    let mut connections = Vec::new();
    for role in Role::ALL {
        let mut ws = connect_as(&env, &token_of(&env, role)).await;
        for field in &subscriptions {
            let (doc, variables) = subscription_reading(field, order);
            subscribe(&mut ws, field, doc, variables).await;
        }
        connections.push((role, ws));
    }
    settle_subscription().await;
    env.advance(order, &[Step::Submit]).await;
    for (role, ws) in &mut connections {
        let mut outcome: BTreeMap<String, Value> = BTreeMap::new();
        while outcome.len() < subscriptions.len() {
            let m = recv(ws).await;
            if m["type"] == "complete" {
                continue;
            }
            assert_eq!(m["type"], "next", "{m}");
            let id = m["id"].as_str().unwrap().to_owned();
            outcome.entry(id).or_insert(m["payload"].clone());
        }
        for field in &subscriptions {
            let payload = &outcome[field];
            if rule_for(&format!("Subscription.{field}"))
                .roles()
                .contains(role)
            {
                assert_eq!(
                    payload["data"][field]["id"],
                    order.to_string(),
                    "{field} as {role}: {payload}"
                );
            } else {
                assert_eq!(
                    payload["errors"][0]["extensions"]["code"], "FORBIDDEN",
                    "{field} as {role}: {payload}"
                );
            }
        }
    }
    env.finish().await;
}

#[tokio::test]
async fn customers_read_only_their_own_orders() {
    let env = Stack::start().await;
    let (a1, _) = env.create_order(OWNER, "EUR", &[("SKU-1", 1, 100)]).await;
    let (a2, _) = env.create_order(OWNER, "EUR", &[("SKU-2", 2, 100)]).await;
    let (b1, p) = env
        .create_order("customer-b", "EUR", &[("SKU-3", 1, 100)])
        .await;
    env.settle(&p).await;
    let a = env.token(OWNER, &[Role::Customer]);
    let list = "query($f: OrderFilter, $after: String) {
        orders(first: 1, filter: $f, after: $after) {
            totalCount pageInfo { hasNextPage endCursor } nodes { id customerId } } }";

    // The list, its count and its cursors are the customer's own.
    let r = env.gql_as(Some(&a), list, json!({})).await;
    let page = &r.data()["orders"];
    assert_eq!(page["totalCount"], 2, "{page}");
    assert_eq!(page["nodes"][0]["customerId"], OWNER);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let after = page["pageInfo"]["endCursor"].clone();
    let r = env.gql_as(Some(&a), list, json!({ "after": after })).await;
    let page = &r.data()["orders"];
    assert_eq!(page["nodes"][0]["customerId"], OWNER, "{page}");
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{page}");
    let mut seen = vec![
        r.data()["orders"]["nodes"][0]["id"].clone(),
        env.gql_as(Some(&a), list, json!({})).await.data()["orders"]["nodes"][0]["id"].clone(),
    ];
    seen.sort_by_key(|v| v.to_string());
    let mut mine = vec![json!(a1.to_string()), json!(a2.to_string())];
    mine.sort_by_key(|v| v.to_string());
    assert_eq!(seen, mine);
    // Filtering by another customer narrows further, to nothing.
    let r = env
        .gql_as(
            Some(&a),
            list,
            json!({ "f": { "customerId": "customer-b" } }),
        )
        .await;
    assert_eq!(r.data()["orders"]["totalCount"], 0);
    assert_eq!(r.data()["orders"]["nodes"], json!([]));

    // Another customer's order or customer record is null, as a missing
    // one: no error, the rest of the answer intact.
    let one = "query($id: UUID!) { order(id: $id) { id customerId } }";
    let r = env.gql_as(Some(&a), one, json!({ "id": b1 })).await;
    assert_eq!(r.data()["order"], Value::Null);
    let r = env.gql_as(Some(&a), one, json!({ "id": a1 })).await;
    assert_eq!(r.data()["order"]["customerId"], OWNER);
    let r = env
        .gql_as(
            Some(&a),
            r#"{ b: customer(id: "customer-b") { id } a: customer(id: "customer-a") { id
                 stats { orderCount } orders { totalCount nodes { customerId } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(r.data()["b"], Value::Null);
    assert_eq!(r.data()["a"]["stats"]["orderCount"], 2);
    assert_eq!(r.data()["a"]["orders"]["totalCount"], 2);

    // Nested: the order's customer and their orders are the customer's own.
    let nested = "query($id: UUID!) { order(id: $id) { customer { id
        stats { orderCount } orders { totalCount nodes { customerId } } } } }";
    let r = env.gql_as(Some(&a), nested, json!({ "id": a1 })).await;
    let customer = &r.data()["order"]["customer"];
    assert_eq!(customer["id"], OWNER);
    assert_eq!(customer["orders"]["totalCount"], 2);
    for node in customer["orders"]["nodes"].as_array().unwrap() {
        assert_eq!(node["customerId"], OWNER);
    }

    // Staff see everyone's.
    let staff = env.staff_token();
    let r = env.gql_as(Some(&staff), list, json!({})).await;
    assert_eq!(r.data()["orders"]["totalCount"], 3);
    let r = env.gql_as(Some(&staff), one, json!({ "id": b1 })).await;
    assert_eq!(r.data()["order"]["customerId"], "customer-b");
    let r = env.gql_as(Some(&staff), nested, json!({ "id": b1 })).await;
    assert_eq!(r.data()["order"]["customer"]["orders"]["totalCount"], 1);

    env.finish().await;
}

#[tokio::test]
async fn customers_are_told_only_about_their_own_orders() {
    let env = Stack::start().await;
    let (a1, _) = env.create_order(OWNER, "EUR", &[("SKU-1", 1, 100)]).await;
    let (b1, p) = env
        .create_order("customer-b", "EUR", &[("SKU-2", 1, 100)])
        .await;
    env.settle(&p).await;
    let changed = "subscription($id: UUID!) { orderChanged(id: $id) { id customerId status } }";
    let mut a = connect_as(&env, &env.token(OWNER, &[Role::Customer])).await;
    subscribe(&mut a, "own", changed, json!({ "id": a1 })).await;
    // B follows A's order (its id guessed or leaked) and their own.
    let mut b = connect_as(&env, &env.token("customer-b", &[Role::Customer])).await;
    subscribe(&mut b, "other", changed, json!({ "id": a1 })).await;
    subscribe(&mut b, "own", changed, json!({ "id": b1 })).await;
    // The firehose is not for customers.
    subscribe(
        &mut b,
        "all",
        "subscription { ordersChanged { id } }",
        json!({}),
    )
    .await;
    let m = recv(&mut b).await;
    assert_eq!(m["id"], "all", "{m}");
    assert_eq!(m["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(recv(&mut b).await["type"], "complete");
    settle_subscription().await;

    // A's change reaches A…
    env.advance(a1, &[Step::Submit]).await;
    let m = recv(&mut a).await;
    assert_eq!(m["id"], "own", "{m}");
    assert_eq!(m["payload"]["data"]["orderChanged"]["status"], "SUBMITTED");
    // …and not B: B's next message is about B's own order, changed after.
    env.advance(b1, &[Step::Submit]).await;
    let m = recv(&mut b).await;
    assert_eq!(m["id"], "own", "B was told about A's order: {m}");
    assert_eq!(
        m["payload"]["data"]["orderChanged"]["customerId"],
        "customer-b"
    );
    // Nothing else is on its way to B.
    let late = tokio::time::timeout(Duration::from_millis(300), b.next()).await;
    assert!(
        !matches!(&late, Ok(Some(Ok(Message::Text(t)))) if t.contains("orderChanged")),
        "{late:?}"
    );
    env.finish().await;
}

/// The handshake of a graphql-transport-ws connection, with this
/// `Authorization` on the upgrade: the socket, or the HTTP refusal's status
/// and body.
async fn open(env: &Stack, authorization: Option<&str>) -> Result<Ws, (u16, Value)> {
    let mut req = env.ws.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(value) = authorization {
        req.headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((resp.status().as_u16(), body))
        }
        Err(e) => panic!("handshake: {e}"),
    }
}

/// The close code the server ends `ws` with.
async fn closed_with(ws: &mut Ws) -> u16 {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed within 10 s");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Text(t))) => panic!("not refused: {t}"),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
}

/// Tokens an attacker would send, each with what it is.
fn hostile_tokens(env: &Stack) -> Vec<(&'static str, String)> {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let now = unix_now();
    let claims = |f: &dyn Fn(&mut TokenClaims)| {
        let mut c = TokenClaims::development("mallory", &[Role::Staff], Duration::from_secs(600));
        f(&mut c);
        c
    };
    let sign = |c: &TokenClaims| mint(&env.key, c).unwrap();
    let valid = sign(&claims(&|_| {}));
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let payload = json!({ "iss": "orderflow-dev", "aud": "orderflow", "sub": "mallory",
        "roles": ["operator"], "exp": now + 600 });
    let hs256 = {
        // Signed with the trusted public key as an HMAC secret: the classic
        // algorithm confusion.
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(env.key.kid().to_owned());
        jsonwebtoken::encode(
            &header,
            &payload,
            &jsonwebtoken::EncodingKey::from_secret(env.key.public_jwk().to_string().as_bytes())
                .unwrap(),
        )
        .unwrap()
    };
    let other_key = SigningKey::generate_ed25519().unwrap();
    vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({ "alg": "none", "typ": "JWT", "kid": env.key.kid() })),
                b64(&payload)
            ),
        ),
        ("HS256 with the public key", hs256),
        (
            "expired",
            sign(&claims(&|c| {
                c.iat = now - 3600;
                c.nbf = now - 3600;
                c.exp = now - 600;
            })),
        ),
        (
            "not yet valid",
            sign(&claims(&|c| {
                c.nbf = now + 600;
                c.exp = now + 1200;
            })),
        ),
        (
            "wrong issuer",
            sign(&claims(&|c| c.iss = "https://evil.example".into())),
        ),
        (
            "wrong audience",
            sign(&claims(&|c| c.aud = "another-api".into())),
        ),
        ("unknown kid", mint(&other_key, &claims(&|_| {})).unwrap()),
        (
            "tampered payload",
            format!("{head}.{}.{signature}", b64(&payload)),
        ),
        (
            "huge",
            format!("{head}.{}.{signature}", "A".repeat(64 * 1024)),
        ),
        ("not a JWT", "abc".into()),
    ]
}

#[tokio::test]
async fn bad_tokens_are_refused_over_http_and_websocket() {
    let env = Stack::start().await;
    let query = json!({ "query": "{ __typename }" });
    let mut cases: Vec<(String, Vec<(&str, String)>)> = hostile_tokens(&env)
        .into_iter()
        .map(|(what, t)| {
            (
                what.to_owned(),
                vec![("authorization", format!("Bearer {t}"))],
            )
        })
        .collect();
    let valid = env.staff_token();
    for (what, header) in [
        ("no token", None),
        ("another scheme", Some(format!("Basic {valid}"))),
        ("no space", Some(format!("Bearer{valid}"))),
        ("two tokens", Some(format!("Bearer {valid} {valid}"))),
        ("scheme alone", Some("Bearer".to_owned())),
    ] {
        cases.push((
            what.to_owned(),
            header
                .map(|h| vec![("authorization", h)])
                .unwrap_or_default(),
        ));
    }
    for (what, headers) in &cases {
        let mut req = env.client.post(&env.graphql).json(&query);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with("Bearer realm="),
            "{what}: {challenge}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], 401, "{what}");
    }
    // The invalid ones say so in the challenge (RFC 6750).
    let r = env
        .client
        .post(&env.graphql)
        .bearer_auth("abc")
        .json(&query)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    // WebSocket: a bad Authorization header is a 401 before any upgrade…
    let (expired_what, expired) = &hostile_tokens(&env)[2];
    assert_eq!(*expired_what, "expired");
    let refused = open(&env, Some(&format!("Bearer {expired}"))).await;
    let Err((status, body)) = refused else {
        panic!("upgraded with an expired token")
    };
    assert_eq!(status, 401);
    assert_eq!(body["type"], orderflow_auth::UNAUTHORIZED_TYPE);
    // …and connection_init without a valid token closes the socket 4401.
    for payload in [
        json!(null),
        json!({}),
        json!({ "Authorization": format!("Bearer {expired}") }),
        json!({ "Authorization": "Bearer abc" }),
        json!({ "Authorization": valid }),
    ] {
        let mut ws = open(&env, None).await.unwrap();
        send(
            &mut ws,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(closed_with(&mut ws).await, UNAUTHORIZED_CLOSE, "{payload}");
    }
    // A subscribe before connection_init is refused by the protocol itself.
    let mut ws = open(&env, None).await.unwrap();
    subscribe(
        &mut ws,
        "1",
        "subscription { ordersChanged { id } }",
        json!({}),
    )
    .await;
    assert_ne!(closed_with(&mut ws).await, 1000);
    // The upgrade's header is enough; connection_init then needs nothing.
    let mut ws = open(&env, Some(&format!("Bearer {valid}"))).await.unwrap();
    send(&mut ws, json!({ "type": "connection_init" })).await;
    assert_eq!(recv(&mut ws).await["type"], "connection_ack");

    // A subscription ends when its connection's token expires, and none
    // opens after.
    let short = mint(
        &env.key,
        &TokenClaims::development("staff-short", &[Role::Staff], Duration::from_secs(3)),
    )
    .unwrap();
    let mut ws = connect_as(&env, &short).await;
    let changed = "subscription($id: UUID!) { orderChanged(id: $id) { id } }";
    subscribe(&mut ws, "1", changed, json!({ "id": Uuid::now_v7() })).await;
    let m = recv(&mut ws).await;
    assert_eq!(m["id"], "1", "{m}");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{m}"
    );
    assert_eq!(recv(&mut ws).await["type"], "complete");
    subscribe(&mut ws, "2", changed, json!({ "id": Uuid::now_v7() })).await;
    let m = recv(&mut ws).await;
    assert_eq!(m["id"], "2", "{m}");
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );

    // The service still answers, and says which keys it trusts.
    let r = env.gql("{ __typename }", json!({})).await;
    assert_eq!(r.data()["__typename"], "QueryRoot");
    let ready: Value = env
        .client
        .get(format!("{}/readyz", env.query))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["auth"], "jwks", "{ready}");
    env.finish().await;
}
