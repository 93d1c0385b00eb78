//! Rate limits through a real HTTP server on a free port: clients on
//! different loopback addresses (127.0.0.1, 127.0.0.2, …) are different
//! IPs to it, and subjects come from a principal an outer layer inserts, as
//! the auth middleware will, or from a real bearer token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use orderflow_auth::{
    AuthConfig, Limit, Principal, RATE_LIMITED_TYPE, RateLimitConfig, RateLimiter, Role,
    SigningKey, TokenClaims, Verifier, mint,
};
use reqwest::StatusCode;
use serde_json::Value;

/// Stands in for the auth layer: `x-test-subject: alice customer`.
async fn test_principal(mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get("x-test-subject")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(text) = header {
        let mut words = text.split_whitespace();
        let subject = words.next().unwrap_or_default().to_owned();
        let roles = words.filter_map(|r| r.parse::<Role>().ok()).collect();
        request.extensions_mut().insert(Principal {
            subject,
            roles,
            customer_id: None,
            client_id: None,
        });
    }
    next.run(request).await
}

struct Server {
    addr: SocketAddr,
    limiter: Arc<RateLimiter>,
}

async fn serve(limiter: Arc<RateLimiter>) -> Server {
    let api = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/metrics", get(|| async { "" }));
    let app = limiter
        .wrap(api)
        .layer(axum::middleware::from_fn(test_principal));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Server { addr, limiter }
}

async fn start(config: RateLimitConfig) -> Server {
    serve(RateLimiter::new(&config).expect("limits are on")).await
}

/// A client whose requests leave from `ip` (a loopback address).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .build()
        .unwrap()
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, client: &reqwest::Client, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut r = client.get(self.url("/ping"));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().await.unwrap()
    }

    /// Sends until refused; asserts the first `burst` were served and a
    /// refusal came soon after (a slow machine may earn a cell or two).
    async fn exhaust(
        &self,
        client: &reqwest::Client,
        headers: &[(&str, &str)],
        burst: u32,
    ) -> reqwest::Response {
        for i in 0..burst + 20 {
            let r = self.get(client, headers).await;
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(i >= burst, "refused after {i} requests, burst {burst}");
                return r;
            }
            assert_eq!(r.status(), StatusCode::OK);
        }
        panic!("never refused");
    }
}

/// Bursts of `burst`, one more request every `every`.
fn limit(burst: u32, every: Duration) -> Limit {
    Limit {
        burst: burst.try_into().unwrap(),
        replenish_every: every,
    }
}

#[tokio::test]
async fn a_burst_over_the_limit_gets_a_429_problem_with_retry_after_and_ratelimit_fields() {
    let server = start(RateLimitConfig::uniform(limit(3, Duration::from_secs(2)))).await;
    let client = client_from([127, 0, 0, 1]);

    let first = server.get(&client, &[]).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["ratelimit-policy"], "\"anonymous\";q=3;w=6");
    assert_eq!(first.headers()["ratelimit"], "\"anonymous\";r=2;t=2");

    let refused = server.exhaust(&client, &[], 2).await;
    let headers = refused.headers().clone();
    assert_eq!(headers["content-type"], "application/problem+json");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(headers["ratelimit-policy"], "\"anonymous\";q=3;w=6");
    let state = headers["ratelimit"].to_str().unwrap();
    assert!(state.starts_with("\"anonymous\";r=0;t="), "{state}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], RATE_LIMITED_TYPE);
    assert_eq!(body["status"], 429);
    assert_eq!(body["code"], "rate_limited");
    assert!(body["detail"].as_str().unwrap().contains("anonymous"));
}

#[tokio::test]
async fn one_hostile_address_does_not_harm_another() {
    let server = start(RateLimitConfig::uniform(limit(3, Duration::from_secs(60)))).await;
    let hostile = client_from([127, 0, 0, 1]);
    let other = client_from([127, 0, 0, 2]);
    server.exhaust(&hostile, &[], 3).await;
    for _ in 0..3 {
        assert_eq!(server.get(&other, &[]).await.status(), StatusCode::OK);
    }
    assert_eq!(
        server.get(&hostile, &[]).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the hostile client stays limited"
    );
}

#[tokio::test]
async fn subjects_are_limited_apart_from_each_other_and_from_their_address() {
    let server = start(RateLimitConfig::uniform(limit(3, Duration::from_secs(60)))).await;
    let client = client_from([127, 0, 0, 1]);
    let alice = [("x-test-subject", "alice customer")];
    let bob = [("x-test-subject", "bob customer")];
    let refused = server.exhaust(&client, &alice, 3).await;
    assert!(
        refused.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"customer\";r=0")
    );
    // Same address, another subject; and the address's anonymous bucket.
    for _ in 0..3 {
        assert_eq!(server.get(&client, &bob).await.status(), StatusCode::OK);
        assert_eq!(server.get(&client, &[]).await.status(), StatusCode::OK);
    }
    // Another address does not help alice: she is keyed by subject.
    let elsewhere = client_from([127, 0, 0, 3]);
    assert_eq!(
        server.get(&elsewhere, &alice).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn each_role_has_its_own_limit_and_a_principal_gets_its_most_generous() {
    let config = RateLimitConfig {
        customer: limit(2, Duration::from_secs(60)),
        staff: limit(6, Duration::from_secs(60)),
        ..RateLimitConfig::uniform(limit(1, Duration::from_secs(60)))
    };
    let server = start(config).await;
    let client = client_from([127, 0, 0, 1]);
    server
        .exhaust(&client, &[("x-test-subject", "carol customer")], 2)
        .await;
    let refused = server
        .exhaust(&client, &[("x-test-subject", "sam customer staff")], 6)
        .await;
    assert!(
        refused.headers()["ratelimit-policy"]
            .to_str()
            .unwrap()
            .starts_with("\"staff\";q=6")
    );
}

#[tokio::test]
async fn requests_succeed_again_once_the_window_has_passed() {
    let every = Duration::from_millis(300);
    let server = start(RateLimitConfig::uniform(limit(2, every))).await;
    let client = client_from([127, 0, 0, 1]);
    let refused = server.exhaust(&client, &[], 2).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(every * 2 + Duration::from_millis(50)).await;
    for _ in 0..2 {
        assert_eq!(server.get(&client, &[]).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_are_never_limited() {
    let server = start(RateLimitConfig::uniform(limit(1, Duration::from_secs(60)))).await;
    let client = client_from([127, 0, 0, 1]);
    server.exhaust(&client, &[], 1).await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        for _ in 0..20 {
            let r = client.get(server.url(path)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert!(r.headers().get("ratelimit").is_none(), "{path}");
        }
    }
}

#[tokio::test]
async fn forwarded_for_is_used_only_behind_trusted_proxies() {
    let tight = limit(2, Duration::from_secs(60));
    let client = client_from([127, 0, 0, 1]);

    // Not trusted: a client cannot escape its limit by making up addresses.
    let direct = start(RateLimitConfig::uniform(tight)).await;
    direct
        .exhaust(&client, &[("x-forwarded-for", "1.1.1.1")], 2)
        .await;
    assert_eq!(
        direct
            .get(&client, &[("x-forwarded-for", "2.2.2.2")])
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Behind one proxy: its (rightmost) entry names the client; what the
    // client wrote to the left of it changes nothing.
    let proxied = start(RateLimitConfig {
        trusted_proxy_hops: 1,
        ..RateLimitConfig::uniform(tight)
    })
    .await;
    let a = [("x-forwarded-for", "9.9.9.9, 1.1.1.1")];
    let a_spoofing = [("x-forwarded-for", "8.8.8.8, 1.1.1.1")];
    let b = [("x-forwarded-for", "2.2.2.2")];
    proxied.exhaust(&client, &a, 2).await;
    assert_eq!(
        proxied.get(&client, &a_spoofing).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(proxied.get(&client, &b).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn idle_callers_are_forgotten_so_rotating_addresses_cannot_grow_memory() {
    let every = Duration::from_millis(100);
    let server = start(RateLimitConfig {
        trusted_proxy_hops: 1,
        // Evicted only when the test says so.
        evict_every: Duration::from_secs(3600),
        ..RateLimitConfig::uniform(limit(2, every))
    })
    .await;
    let client = client_from([127, 0, 0, 1]);
    for i in 0..50u8 {
        let ip = format!("10.0.0.{i}");
        let r = server.get(&client, &[("x-forwarded-for", &ip)]).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(server.limiter.tracked_keys(), 50);
    // A full bucket again after one window: nothing left to remember.
    tokio::time::sleep(every * 2 + Duration::from_millis(50)).await;
    assert_eq!(server.limiter.evict_idle(), 0);
    assert_eq!(server.limiter.tracked_keys(), 0);
}

#[tokio::test]
async fn a_configured_verifier_keys_bearer_tokens_by_subject() {
    let key = SigningKey::generate_ed25519().unwrap();
    let verifier = Arc::new(Verifier::new(AuthConfig::development(&key)).await.unwrap());
    let config = RateLimitConfig::uniform(limit(2, Duration::from_secs(60)));
    let server = serve(RateLimiter::with_verifier(&config, verifier).unwrap()).await;
    let token = |sub: &str| {
        let claims = TokenClaims::development(sub, &[Role::Staff], Duration::from_secs(300));
        format!("Bearer {}", mint(&key, &claims).unwrap())
    };
    let (dana, erin) = (token("dana"), token("erin"));
    let client = client_from([127, 0, 0, 1]);
    let refused = server
        .exhaust(&client, &[("authorization", &dana)], 2)
        .await;
    assert!(
        refused.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"staff\"")
    );
    let r = server.get(&client, &[("authorization", &erin)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A bad token is counted against its address, not a subject.
    let r = server
        .get(&client, &[("authorization", "Bearer not.a.token")])
        .await;
    assert!(
        r.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"anonymous\"")
    );
}
