//! The extractor behind a real axum server: header forms, the RFC 6750
//! challenges and the problem+json bodies.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orderflow_auth::{Forbidden, Principal, Role, Verifier, forbidden_response};
use serde_json::{Value, json};

use crate::support::{Setup, claims, token};

#[derive(Clone)]
struct AppState {
    verifier: Arc<Verifier>,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Arc<Verifier> {
        state.verifier.clone()
    }
}

async fn whoami(principal: Principal) -> String {
    let roles: Vec<&str> = principal.roles.iter().map(|r| r.as_str()).collect();
    format!("{} {}", principal.subject, roles.join(","))
}

async fn maybe(principal: Option<Principal>) -> String {
    principal.map_or("anonymous".into(), |p| p.subject)
}

async fn refunds(principal: Principal) -> Response {
    if !principal.has_role(Role::Finance) {
        return forbidden_response("refunds need the finance role");
    }
    "refunded".into_response()
}

async fn projections(principal: Principal) -> Result<&'static str, Forbidden> {
    principal.require_any_role(&[Role::Operator, Role::Staff])?;
    Ok("projections")
}

struct Api {
    base: String,
    http: reqwest::Client,
    setup: Setup,
    serve: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

impl Api {
    async fn start() -> Api {
        let setup = Setup::new().await;
        let app = Router::new()
            .route("/whoami", get(whoami))
            .route("/maybe", get(maybe))
            .route("/refunds", get(refunds))
            .route("/projections", get(projections))
            .with_state(AppState {
                verifier: setup.verifier.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let serve = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Api {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            setup,
            serve,
        }
    }

    async fn get(&self, path: &str, authorization: &[&str]) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for value in authorization {
            request = request.header("authorization", *value);
        }
        request.send().await.unwrap()
    }
}

/// Status, challenge and problem body of a response.
async fn answer(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    if status == 200 {
        return (status, challenge, json!(response.text().await.unwrap()));
    }
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    (status, challenge, response.json().await.unwrap())
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler() {
    let api = Api::start().await;
    let t = token(&api.setup.ed, &claims("customer-42", &["customer"]));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (status, _, body) = answer(api.get("/whoami", &[&format!("{scheme} {t}")]).await).await;
        assert_eq!((status, body), (200, json!("customer-42 customer")));
    }
}

#[tokio::test]
async fn no_token_is_a_401_challenge_without_error_code() {
    let api = Api::start().await;
    for authorization in [&[][..], &["Basic dXNlcjpwYXNz"][..]] {
        let (status, challenge, body) = answer(api.get("/whoami", authorization).await).await;
        assert_eq!(status, 401);
        assert_eq!(challenge, "Bearer realm=\"orderflow\"");
        assert_eq!(body["type"], "urn:orderflow:problem:unauthorized");
        assert_eq!(body["code"], "token.missing");
        assert_eq!(body["status"], 401);
    }
}

#[tokio::test]
async fn wrong_header_forms_are_401_invalid_token() {
    let api = Api::start().await;
    let t = token(&api.setup.ed, &claims("customer-42", &["customer"]));
    let two_tokens = format!("Bearer {t} {t}");
    let with_comma = format!("Bearer {t},");
    let cases: Vec<Vec<&str>> = vec![
        vec!["Bearer"],
        vec!["bearer "],
        vec![&two_tokens],
        vec![&with_comma],
        vec!["Bearer \"quoted\""],
    ];
    for headers in &cases {
        let (status, challenge, body) = answer(api.get("/whoami", headers).await).await;
        assert_eq!(status, 401, "{headers:?}");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{headers:?}: {challenge}"
        );
        assert_eq!(body["code"], "token.malformed_header", "{headers:?}");
    }
    // Two Authorization headers, even if both are valid.
    let bearer = format!("Bearer {t}");
    let (status, _, body) = answer(api.get("/whoami", &[&bearer, &bearer]).await).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("token.malformed_header"))
    );
}

#[tokio::test]
async fn a_bad_token_is_401_with_its_reason() {
    let api = Api::start().await;
    let mut c = claims("customer-42", &["customer"]);
    c["exp"] = json!(1_000);
    let expired = format!("Bearer {}", token(&api.setup.ed, &c));
    let (status, challenge, body) = answer(api.get("/whoami", &[&expired]).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge,
        "Bearer realm=\"orderflow\", error=\"invalid_token\", error_description=\"the token has expired\""
    );
    assert_eq!(body["code"], "token.expired");
    assert_eq!(body["detail"], "the token has expired");

    let huge = format!("Bearer {}", "a".repeat(20 * 1024));
    let (status, _, body) = answer(api.get("/whoami", &[&huge]).await).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("token.too_large"))
    );
}

#[tokio::test]
async fn an_optional_principal_is_none_without_credentials_but_not_with_bad_ones() {
    let api = Api::start().await;
    let (status, _, body) = answer(api.get("/maybe", &[]).await).await;
    assert_eq!((status, body), (200, json!("anonymous")));
    let t = format!(
        "Bearer {}",
        token(&api.setup.rsa, &claims("staff-1", &["staff"]))
    );
    let (status, _, body) = answer(api.get("/maybe", &[&t]).await).await;
    assert_eq!((status, body), (200, json!("staff-1")));
    let (status, _, body) = answer(api.get("/maybe", &["Bearer not.a.jwt"]).await).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("token.malformed"))
    );
}

#[tokio::test]
async fn a_role_that_may_not_act_gets_the_shared_403() {
    let api = Api::start().await;
    let customer = format!(
        "Bearer {}",
        token(&api.setup.ec, &claims("c-1", &["customer"]))
    );
    let (status, challenge, body) = answer(api.get("/refunds", &[&customer]).await).await;
    assert_eq!(status, 403);
    assert!(challenge.starts_with("Bearer realm=\"orderflow\", error=\"insufficient_scope\""));
    assert_eq!(body["type"], "urn:orderflow:problem:forbidden");
    assert_eq!(body["code"], "forbidden");
    assert_eq!(body["detail"], "refunds need the finance role");
    let finance = format!(
        "Bearer {}",
        token(&api.setup.ec, &claims("f-1", &["finance"]))
    );
    let (status, _, body) = answer(api.get("/refunds", &[&finance]).await).await;
    assert_eq!((status, body), (200, json!("refunded")));
}

#[tokio::test]
async fn require_any_role_answers_the_same_403() {
    let api = Api::start().await;
    let finance = format!(
        "Bearer {}",
        token(&api.setup.ed, &claims("f-1", &["finance"]))
    );
    let (status, _, body) = answer(api.get("/projections", &[&finance]).await).await;
    assert_eq!(status, 403);
    assert_eq!(body["type"], "urn:orderflow:problem:forbidden");
    assert_eq!(
        body["detail"],
        "this needs one of the roles: operator, staff"
    );
    let staff = format!(
        "Bearer {}",
        token(&api.setup.ed, &claims("s-1", &["staff"]))
    );
    let (status, _, body) = answer(api.get("/projections", &[&staff]).await).await;
    assert_eq!((status, body), (200, json!("projections")));
}
