//! Bearer tokens and roles on the command API, over real HTTP with tokens
//! signed by keys the tests generate.

use std::time::Duration;

use orderflow_auth::{Role, SigningKey, TokenClaims, jwks, unix_now};
use orderflow_command_api::{Authn, CommandApiConfig, DOCS_FILES, DOCS_PATH, RULES, rule_for};
use orderflow_testkit::JwksServer;
use serde_json::{Value, json};

use crate::app::{Resp, TestApp, TestAuth, money, new_order};

/// A request with exactly this `Authorization` (or none).
async fn send_as(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    // A client without the harness' default token.
    let client = reqwest::Client::new();
    let mut req = client.request(method, app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    app.send_exactly(req.build().unwrap()).await
}

fn order_for(customer: &str) -> Value {
    let mut body = new_order();
    body["customer_id"] = json!(customer);
    body
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_with_a_bearer_challenge() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    let now = unix_now();
    let claims = |f: &dyn Fn(&mut TokenClaims)| {
        let mut c =
            TokenClaims::development("customer-1", &[Role::Customer], Duration::from_secs(600));
        f(&mut c);
        c
    };
    let expired = app.auth.sign(&claims(&|c| {
        c.iat = now - 3600;
        c.nbf = now - 3600;
        c.exp = now - 600;
    }));
    let wrong_audience = app.auth.sign(&claims(&|c| c.aud = "someone-else".into()));
    let wrong_issuer = app
        .auth
        .sign(&claims(&|c| c.iss = "https://evil.example".into()));
    let other_key = TestAuth::new();
    let bad_signature = other_key.sign(&claims(&|_| {}));
    // The header and payload of a valid token with another's signature.
    let valid = app.auth.token("customer-1", &[Role::Customer]);
    let forged = {
        let (head, _) = valid.rsplit_once('.').unwrap();
        let (_, sig) = bad_signature.rsplit_once('.').unwrap();
        format!("{head}.{sig}")
    };
    let cases: [(&str, Option<&str>); 6] = [
        ("none", None),
        ("expired", Some(&expired)),
        ("wrong audience", Some(&wrong_audience)),
        ("wrong issuer", Some(&wrong_issuer)),
        ("another key", Some(&bad_signature)),
        ("bad signature", Some(&forged)),
    ];
    let routes = [
        (
            reqwest::Method::POST,
            "/orders".to_owned(),
            Some(new_order()),
        ),
        (reqwest::Method::GET, format!("/orders/{id}"), None),
        (reqwest::Method::GET, format!("/orders/{id}/events"), None),
        (reqwest::Method::POST, format!("/orders/{id}/submit"), None),
    ];
    for (what, token) in cases {
        for (method, path, body) in &routes {
            let r = send_as(&app, method.clone(), path, token, body.clone()).await;
            assert_eq!(r.status, 401, "{what} on {method} {path}: {}", r.body);
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/problem+json")
            );
            let challenge = r.header("www-authenticate").expect("a challenge");
            assert!(challenge.starts_with("Bearer "), "{challenge}");
            if token.is_some() {
                assert!(
                    challenge.contains("error=\"invalid_token\""),
                    "{what}: {challenge}"
                );
            }
        }
    }
    // Nothing was written by any of them.
    assert_eq!(app.event_count(&id).await, 3);
}

#[tokio::test]
async fn health_and_the_openapi_document_need_no_token() {
    let app = TestApp::start().await;
    let page_files = DOCS_FILES.iter().map(|f| f.path);
    for path in ["/healthz", "/readyz", "/openapi.json", DOCS_PATH]
        .into_iter()
        .chain(page_files)
    {
        let r = send_as(&app, reqwest::Method::GET, path, None, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // The reference page may load only from its own origin; its vendored
    // script is cached for a year at a path naming its version.
    let page = send_as(&app, reqwest::Method::GET, DOCS_PATH, None, None).await;
    assert_eq!(
        page.header("content-security-policy").as_deref(),
        Some(orderflow_observability::PAGE_CSP)
    );
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let redoc = "/docs/assets/redoc-2.5.4/redoc.standalone.js";
    let script = send_as(&app, reqwest::Method::GET, redoc, None, None).await;
    assert_eq!(
        script.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    // Anything else under it is the usual 404 problem.
    send_as(
        &app,
        reqwest::Method::GET,
        "/docs/assets/nope.js",
        None,
        None,
    )
    .await
    .assert_problem(404, "route-not-found");
    let ready = send_as(&app, reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.body["auth"], "jwks", "{}", ready.body);
}

#[tokio::test]
async fn customers_reach_only_their_own_orders() {
    let app = TestApp::start().await;
    let alice = app.auth.token("alice", &[Role::Customer]);
    let bob = app.auth.token("bob", &[Role::Customer]);
    let r = send_as(
        &app,
        reqwest::Method::POST,
        "/orders",
        Some(&alice),
        Some(order_for("alice")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();

    // Creating for someone else is refused outright.
    let r = send_as(
        &app,
        reqwest::Method::POST,
        "/orders",
        Some(&bob),
        Some(order_for("alice")),
    )
    .await;
    r.assert_problem(403, "forbidden");

    // Bob cannot see or change Alice's order: it is a 404, as if missing.
    let missing = format!("/orders/{}", uuid::Uuid::now_v7());
    let unknown = send_as(&app, reqwest::Method::GET, &missing, Some(&bob), None).await;
    unknown.assert_problem(404, "order.not_found");
    for (method, path, body) in [
        (reqwest::Method::GET, format!("/orders/{id}"), None),
        (reqwest::Method::GET, format!("/orders/{id}/events"), None),
        (reqwest::Method::POST, format!("/orders/{id}/submit"), None),
        (
            reqwest::Method::POST,
            format!("/orders/{id}/cancel"),
            Some(json!({ "reason": "mine now" })),
        ),
        (
            reqwest::Method::POST,
            format!("/orders/{id}/items"),
            Some(json!({ "sku": "X-1", "name": "x", "quantity": 1, "unit_price": money(100) })),
        ),
        (
            reqwest::Method::DELETE,
            format!("/orders/{id}/items/SKU-1"),
            None,
        ),
    ] {
        let r = send_as(&app, method.clone(), &path, Some(&bob), body).await;
        r.assert_problem(404, "order.not_found");
        assert_eq!(r.body["type"], unknown.body["type"], "{method} {path}");
    }
    // Alice can; and she cannot do staff's work on her own order.
    let r = send_as(
        &app,
        reqwest::Method::GET,
        &format!("/orders/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send_as(
        &app,
        reqwest::Method::POST,
        &format!("/orders/{id}/submit"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send_as(
        &app,
        reqwest::Method::POST,
        &format!("/orders/{id}/confirm"),
        Some(&alice),
        None,
    )
    .await;
    r.assert_problem(403, "forbidden");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope"),
        "{:?}",
        r.headers
    );
    assert_eq!(app.event_count(&id).await, 4, "Bob wrote nothing");
}

#[tokio::test]
async fn staff_and_finance_do_their_own_work_only() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    app.post_empty(&format!("/orders/{id}/submit")).await;
    let staff = app.auth.token("clerk-7", &[Role::Staff]);
    let finance = app.auth.token("accountant-3", &[Role::Finance]);
    let operator = app.auth.token("ops-1", &[Role::Operator]);
    let payment = json!({ "payment_id": "pay-1", "amount": money(2500) });

    let r = send_as(
        &app,
        reqwest::Method::POST,
        &format!("/orders/{id}/confirm"),
        Some(&finance),
        None,
    )
    .await;
    r.assert_problem(403, "forbidden");
    let r = send_as(
        &app,
        reqwest::Method::POST,
        &format!("/orders/{id}/confirm"),
        Some(&staff),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let path = format!("/orders/{id}/payments");
    let r = send_as(
        &app,
        reqwest::Method::POST,
        &path,
        Some(&staff),
        Some(payment.clone()),
    )
    .await;
    r.assert_problem(403, "forbidden");
    let r = send_as(
        &app,
        reqwest::Method::POST,
        &path,
        Some(&operator),
        Some(payment.clone()),
    )
    .await;
    r.assert_problem(403, "forbidden");
    let r = send_as(
        &app,
        reqwest::Method::POST,
        &path,
        Some(&finance),
        Some(payment),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "paid");
    // Both read every order; staff may not create one.
    for token in [&staff, &finance] {
        let r = send_as(
            &app,
            reqwest::Method::GET,
            &format!("/orders/{id}"),
            Some(token),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = send_as(
        &app,
        reqwest::Method::POST,
        "/orders",
        Some(&staff),
        Some(new_order()),
    )
    .await;
    r.assert_problem(403, "forbidden");
}

#[tokio::test]
async fn the_audit_trail_names_the_token_subject_not_x_actor() {
    let app = TestApp::start().await;
    let id = app.create_order().await;
    app.post_empty(&format!("/orders/{id}/submit")).await;
    let mut claims = TokenClaims::development("clerk-7", &[Role::Staff], Duration::from_secs(600));
    claims.client_id = Some("back-office-app".into());
    let staff = app.auth.sign(&claims);
    let r = app
        .send(
            reqwest::Client::new()
                .post(app.url(&format!("/orders/{id}/confirm")))
                .bearer_auth(&staff)
                .header("x-actor", "the-ceo"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let history = app.get(&format!("/orders/{id}/events")).await;
    let events = history.body["events"].as_array().unwrap();
    let confirmed = events.last().unwrap();
    assert_eq!(confirmed["event_type"], "OrderConfirmed");
    assert_eq!(confirmed["metadata"]["actor"], "clerk-7");
    assert_eq!(confirmed["metadata"]["actor_roles"], json!(["staff"]));
    assert_eq!(confirmed["metadata"]["actor_client_id"], "back-office-app");
    assert_eq!(events[0]["metadata"]["actor"], crate::app::DEFAULT_CUSTOMER);
    assert!(!history.body.to_string().contains("the-ceo"));
}

/// Keys come from a real JWKS endpoint; a token signed by a key published
/// after start-up is accepted after one refetch, and unknown `kid`s do not
/// make the API hammer the provider.
#[tokio::test]
async fn keys_rotate_through_a_jwks_endpoint_with_one_refetch() {
    let old = SigningKey::generate_ed25519().unwrap();
    let server = JwksServer::start(jwks(&[&old])).await;
    let auth = TestAuth {
        key: old.clone(),
        jwks_url: Some(server.url()),
    };
    let app = TestApp::start_with_auth(CommandApiConfig::default(), auth).await;
    assert_eq!(server.requests(), 1, "keys loaded at start-up");
    let id = app.create_order().await;

    let new = SigningKey::generate_ed25519().unwrap();
    server.set_jwks(jwks(&[&old, &new]));
    let rotated = TestAuth {
        key: new.clone(),
        jwks_url: None,
    };
    let token = rotated.token("clerk-9", &[Role::Staff]);
    let r = send_as(
        &app,
        reqwest::Method::GET,
        &format!("/orders/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.requests(), 2, "one refetch for the new kid");
    let r = send_as(
        &app,
        reqwest::Method::GET,
        &format!("/orders/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(server.requests(), 2, "the new key is cached");

    // A kid the provider never published: refused, and refetched at most
    // once per interval however often it is tried.
    let stranger = SigningKey::generate_ed25519()
        .unwrap()
        .with_kid("nobody")
        .unwrap();
    let stranger = TestAuth {
        key: stranger,
        jwks_url: None,
    };
    for _ in 0..3 {
        let token = stranger.token("clerk-9", &[Role::Staff]);
        let r = send_as(
            &app,
            reqwest::Method::GET,
            &format!("/orders/{id}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    assert!(server.requests() <= 3, "{} fetches", server.requests());
}

/// The document and the table agree: every operation has a rule, its
/// `x-roles` are the rule's, and it declares its scheme (bearer, or the
/// payment provider's signature), 401 (and 403 where roles decide) and 429
/// (with its `Retry-After` and `RateLimit` fields).
#[tokio::test]
async fn every_documented_operation_has_a_rule_and_says_so() {
    let doc = orderflow_command_api::openapi();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["paymentSignature"]["in"], "header");
    assert_eq!(schemes["paymentSignature"]["name"], "Orderflow-Signature");
    let mut seen = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let rule = rule_for(id);
            assert_ne!(rule.operation, "unlisted", "{method} {path} has no rule");
            let roles: Vec<&str> = rule.roles().iter().map(|r| r.as_str()).collect();
            assert_eq!(op["x-roles"], json!(roles), "{id}");
            match rule.authn {
                Authn::Bearer => {
                    assert_eq!(op["security"], json!([{ "bearer": [] }]), "{id}");
                    for status in ["401", "403"] {
                        let problem = &op["responses"][status]["content"]["application/problem+json"]
                            ["schema"];
                        assert_eq!(
                            problem["$ref"], "#/components/schemas/ProblemDetails",
                            "{id} {status}"
                        );
                    }
                }
                Authn::PaymentSignature => {
                    assert!(roles.is_empty(), "{id}: no token opens it");
                    assert_eq!(op["security"], json!([{ "paymentSignature": [] }]), "{id}");
                    assert!(op["responses"]["401"].is_object(), "{id} 401");
                    assert!(op["responses"]["403"].is_null(), "{id}: no roles, no 403");
                }
            }
            let limited = &op["responses"]["429"];
            assert_eq!(
                limited["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/ProblemDetails",
                "{id} 429"
            );
            for header in ["Retry-After", "RateLimit", "RateLimit-Policy"] {
                assert!(
                    limited["headers"][header]["schema"].is_object(),
                    "{id} 429 {header}"
                );
            }
            seen.push(id.to_owned());
        }
    }
    for rule in RULES {
        assert!(
            seen.iter().any(|s| s == rule.operation),
            "{} is in the table but not served",
            rule.operation
        );
    }
}

/// The README's roles table is the code's, row for row.
#[test]
fn the_readme_roles_table_is_the_code_table() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let table = readme
        .split("<!-- roles table: checked against command-api/src/access.rs -->")
        .nth(1)
        .expect("the roles table marker");
    let rows: Vec<&str> = table
        .lines()
        .skip(3)
        .take_while(|l| l.starts_with('|'))
        .collect();
    let doc = orderflow_command_api::openapi();
    let mut expected = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let rule = rule_for(op["operationId"].as_str().unwrap());
            let mut roles: Vec<String> = rule
                .roles()
                .iter()
                .map(|r| match r {
                    Role::Customer => "customer (own)".to_owned(),
                    other => other.as_str().to_owned(),
                })
                .collect();
            if rule.authn == Authn::PaymentSignature {
                roles = vec!["none: the payment provider's signature".to_owned()];
            }
            expected.push(format!(
                "| `{} {path}` | {} |",
                method.to_uppercase(),
                roles.join(", ")
            ));
        }
    }
    let mut found: Vec<String> = rows.iter().map(|r| (*r).to_owned()).collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
}

/// Idempotency keys belong to their caller: the same key from two subjects
/// makes two orders, and each retry replays its own caller's.
#[tokio::test]
async fn idempotency_keys_of_two_subjects_do_not_collide() {
    let app = TestApp::start().await;
    let mut ids = Vec::new();
    for who in ["alice", "bob"] {
        let token = app.auth.token(who, &[Role::Customer]);
        let send = || {
            reqwest::Client::new()
                .post(app.url("/orders"))
                .bearer_auth(&token)
                .header("idempotency-key", "same-key")
                .json(&order_for(who))
                .build()
                .unwrap()
        };
        let first = app.send_exactly(send()).await;
        assert_eq!(first.status, 201, "{who}: {}", first.body);
        assert_eq!(first.header("idempotency-replayed"), None, "{who}");
        assert_eq!(first.body["customer_id"], who);
        let retry = app.send_exactly(send()).await;
        assert_eq!(retry.status, 201, "{}", retry.body);
        assert_eq!(
            retry.header("idempotency-replayed").as_deref(),
            Some("true")
        );
        assert_eq!(retry.body["id"], first.body["id"], "{who}'s own order");
        ids.push(first.body["id"].clone());
    }
    assert_ne!(ids[0], ids[1]);
    // And the key is not shown in the audit trail.
    let id = ids[0].as_str().unwrap();
    let history = app.get(&format!("/orders/{id}/events")).await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert!(
        !history.body.to_string().contains("same-key"),
        "{}",
        history.body
    );
}

#[tokio::test]
async fn metrics_on_the_public_port_are_for_operators_only() {
    let app = TestApp::start().await;
    let get = reqwest::Method::GET;
    let anonymous = send_as(&app, get.clone(), "/metrics", None, None).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(anonymous.body["type"], orderflow_auth::UNAUTHORIZED_TYPE);
    for roles in [&[Role::Customer][..], &[Role::Staff, Role::Finance]] {
        let token = app.auth.token("someone", roles);
        let r = send_as(&app, get.clone(), "/metrics", Some(&token), None).await;
        assert_eq!(r.status, 403, "{roles:?}: {}", r.body);
        assert_eq!(r.body["type"], orderflow_auth::FORBIDDEN_TYPE);
    }
    let operator = app.auth.token("ops", &[Role::Operator]);
    let r = send_as(&app, get, "/metrics", Some(&operator), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
