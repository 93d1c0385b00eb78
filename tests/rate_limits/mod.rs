//! Both APIs as served (`serve_on`, real Postgres, real HTTP on a free
//! port) behind their rate limits: a burst past the limit is a 429 problem
//! with `Retry-After` and the `RateLimit` fields, another caller is
//! unaffected (on the command API: another token subject at the same
//! address; without a valid token: another address), and health and
//! metrics are never limited. The limiter's own
//! cases (subjects, roles, proxies, eviction) are in auth/tests/rate_limit.rs.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use orderflow_auth::{Limit, RATE_LIMITED_TYPE, RateLimitConfig};
use orderflow_command_api::CommandApiConfig;
use orderflow_event_store::{PgEventStore, PgStoreConfig};
use orderflow_query_api::QueryApiConfig;
use orderflow_testkit::TestDb;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;

const BURST: u32 = 3;

/// Bursts of 3, then one request a minute: the test never earns another.
fn tight() -> RateLimitConfig {
    RateLimitConfig::uniform(Limit {
        burst: BURST.try_into().unwrap(),
        replenish_every: Duration::from_secs(60),
    })
}

/// The key the command API of these tests trusts; the clients carry a
/// staff token signed with it, so an unknown order is a 404.
static KEY: std::sync::LazyLock<orderflow_auth::SigningKey> =
    std::sync::LazyLock::new(|| orderflow_auth::SigningKey::generate_ed25519().unwrap());

async fn verifier() -> Arc<orderflow_auth::Verifier> {
    let config = orderflow_auth::AuthConfig::jwks(
        orderflow_auth::KeySource::Static(KEY.jwks()),
        orderflow_auth::DEV_ISSUER,
        orderflow_auth::DEV_AUDIENCE,
    );
    Arc::new(orderflow_auth::Verifier::new(config).await.unwrap())
}

/// A client at `ip` whose requests carry a staff token for `subject`.
fn client_as(subject: &str, ip: [u8; 4]) -> reqwest::Client {
    let claims = orderflow_auth::TokenClaims::development(
        subject,
        &[orderflow_auth::Role::Staff],
        Duration::from_secs(600),
    );
    let token = orderflow_auth::mint(&KEY, &claims).unwrap();
    client_with(&format!("Bearer {token}"), ip)
}

/// A client at `ip` sending this `Authorization` value (empty: none).
fn client_with(authorization: &str, ip: [u8; 4]) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if !authorization.is_empty() {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            authorization.parse().unwrap(),
        );
    }
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Sends `request` until refused: the first `BURST` are served.
async fn exhaust(request: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    for i in 0..BURST {
        let r = request().send().await.unwrap();
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS, "request {i}");
        assert!(r.headers().contains_key("ratelimit"));
    }
    request().send().await.unwrap()
}

async fn assert_rate_limited(r: reqwest::Response) {
    assert_rate_limited_under(r, "anonymous").await;
}

/// A 429 problem under the named policy (the caller's role, or
/// `anonymous` for a caller counted by address).
async fn assert_rate_limited_under(r: reqwest::Response, policy: &str) {
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/problem+json");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(h["ratelimit-policy"], format!("\"{policy}\";q=3;w=180"));
    assert!(
        h["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with(&format!("\"{policy}\";r=0;t=")),
        "{:?}",
        h["ratelimit"]
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], RATE_LIMITED_TYPE);
    assert_eq!(body["status"], 429);
}

/// Probes and `/metrics` are never limited; `/metrics` answers these
/// callers 401 or 403 (it wants an operator), but never 429.
async fn assert_unlimited(client: &reqwest::Client, base: &str) {
    for path in ["/healthz", "/metrics"] {
        for _ in 0..2 * BURST {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            if path == "/healthz" {
                assert_eq!(r.status(), StatusCode::OK, "{path}");
            } else {
                assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
            }
        }
    }
}

#[test]
fn limits_are_on_by_default() {
    assert!(CommandApiConfig::default().rate_limit.enabled);
    assert!(QueryApiConfig::default().rate_limit.enabled);
}

/// The command API as served, with `tight()` limits and the test verifier.
async fn command_api(db: &TestDb) -> (String, oneshot::Sender<()>) {
    let store = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .unwrap();
    let config = CommandApiConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        rate_limit: tight(),
        ..CommandApiConfig::default()
    };
    let listener = orderflow_command_api::bind(&config).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(orderflow_command_api::serve_on(
        listener,
        Arc::new(store),
        config,
        verifier().await,
        async {
            let _ = stopped.await;
        },
    ));
    (base, stop)
}

const UNKNOWN_ORDER: &str = "/orders/0190f1a2-0000-7000-8000-000000000001";

#[tokio::test]
async fn the_command_api_limits_each_subject_not_the_address_it_shares() {
    let db = TestDb::new().await;
    let (base, _stop) = command_api(&db).await;
    let order = format!("{base}{UNKNOWN_ORDER}");

    let hostile = client_as("staff-1", [127, 0, 0, 1]);
    assert_rate_limited_under(exhaust(|| hostile.get(&order)).await, "staff").await;
    assert_unlimited(&hostile, &base).await;
    // Another subject behind the same address (one NAT, one gateway) is
    // served in full.
    let neighbour = client_as("staff-2", [127, 0, 0, 1]);
    for i in 0..BURST {
        let r = neighbour.get(&order).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "request {i}");
        assert_eq!(r.headers()["ratelimit-policy"], "\"staff\";q=3;w=180");
    }
    // And the subject is still refused from another address.
    let moved = client_as("staff-1", [127, 0, 0, 2]);
    assert_rate_limited_under(moved.get(&order).send().await.unwrap(), "staff").await;
}

#[tokio::test]
async fn the_command_api_limits_callers_without_a_valid_token_by_address() {
    let db = TestDb::new().await;
    let (base, _stop) = command_api(&db).await;
    let order = format!("{base}{UNKNOWN_ORDER}");

    // No token and a forged one count against the same address.
    let anonymous = client_with("", [127, 0, 0, 1]);
    for i in 0..BURST - 1 {
        let r = anonymous.get(&order).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "request {i}");
    }
    let forged = client_with("Bearer not.a.token", [127, 0, 0, 1]);
    let r = forged.get(&order).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_rate_limited(forged.get(&order).send().await.unwrap()).await;
    assert_rate_limited(anonymous.get(&order).send().await.unwrap()).await;
    assert_unlimited(&anonymous, &base).await;
    // A valid token at that address has its own bucket; another address
    // without one has its own too.
    let r = client_as("staff-3", [127, 0, 0, 1])
        .get(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client_with("", [127, 0, 0, 2])
        .get(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// The query API counts a verified caller by subject (under their role's
/// limit) wherever they come from, and callers without a valid token by
/// address.
#[tokio::test]
async fn the_query_api_limits_each_subject_and_anonymous_address_but_not_its_probes() {
    let read_db = TestDb::new().await;
    let config = QueryApiConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        read_database_url: read_db.url().to_owned(),
        rate_limit: tight(),
        ..QueryApiConfig::default()
    };
    let listener = orderflow_query_api::bind(&config).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(orderflow_query_api::serve_on(
        listener,
        config,
        None,
        verifier().await,
        async {
            let _ = stopped.await;
        },
    ));
    let graphql = format!("{base}/graphql");
    let query = json!({ "query": "{ __typename }" });

    let hostile = client_as("staff-1", [127, 0, 0, 1]);
    assert_rate_limited_under(
        exhaust(|| hostile.post(&graphql).json(&query)).await,
        "staff",
    )
    .await;
    assert_unlimited(&hostile, &base).await;
    // The same subject from another address is the same caller…
    let moved = client_as("staff-1", [127, 0, 0, 2]);
    let r = moved.post(&graphql).json(&query).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // …another subject from the same address is not.
    let other = client_as("staff-2", [127, 0, 0, 1]);
    let r = other.post(&graphql).json(&query).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another subject is served");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "QueryRoot");
    // Without a token: counted per address (and refused with a 401 until
    // the limit answers first).
    let anonymous = client_with("", [127, 0, 0, 3]);
    let r = exhaust(|| anonymous.post(&graphql).json(&query)).await;
    assert_rate_limited(r).await;
    let r = client_with("", [127, 0, 0, 4])
        .post(&graphql)
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "another address");
}
