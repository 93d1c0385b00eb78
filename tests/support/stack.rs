//! The whole pipeline per test, as `orderflow up` runs it: command API
//! (REST) → Postgres event store → relay → JetStream → projector → read
//! database → query API, on the test's own [`Env`].

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use orderflow::Pipeline;
use orderflow_auth::{
    AuthConfig, DEV_AUDIENCE, DEV_ISSUER, KeySource, Role, SigningKey, TokenClaims, Verifier, mint,
};
use orderflow_event_store::Position;
use orderflow_projections::PROJECTIONS;
use orderflow_query_api::{QueryApi, QueryApiConfig};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Env;

/// An [`Env`] with every service running (its fields read through).
pub struct Stack {
    env: Env,
    running: Option<Pipeline>,
    /// The command API's base URL.
    pub rest: String,
    /// The query API's base URL (`/metrics`, `/readyz` under it).
    pub query: String,
    pub graphql: String,
    pub ws: String,
    pub api: QueryApi,
    pub client: reqwest::Client,
    /// The key both APIs trust; [`Stack::rest`] and [`Stack::gql`] sign
    /// with it.
    pub key: SigningKey,
}

impl Deref for Stack {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

/// A GraphQL answer.
#[derive(Debug)]
pub struct Gql {
    pub status: u16,
    pub body: Value,
}

impl Gql {
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"]
    }

    /// The codes of the errors, in order.
    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or("<none>")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts exactly one error, with this code, and returns its message.
    pub fn only_error(&self, code: &str) -> String {
        assert_eq!(self.codes(), [code], "{}", self.body);
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// A REST answer.
#[derive(Debug)]
pub struct Rest {
    pub status: u16,
    pub body: Value,
    pub position: Option<String>,
}

/// What to do to an order.
#[derive(Debug, Clone)]
pub enum Step {
    Submit,
    Confirm,
    Reject(&'static str),
    Pay,
    Ship(&'static str),
    Deliver,
    Cancel(&'static str),
    Refund(i64),
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(|_| {}).await
    }

    /// With the query API's configuration changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut QueryApiConfig)) -> Stack {
        let env = Env::new().await;
        let mut query = env.query_config();
        configure(&mut query);
        // The command API trusts a key made for this test.
        let key = SigningKey::generate_ed25519().unwrap();
        let auth = AuthConfig::jwks(KeySource::Static(key.jwks()), DEV_ISSUER, DEV_AUDIENCE);
        let verifier = Arc::new(Verifier::new(auth).await.unwrap());
        let running = env.start(env.api_services(query, verifier.clone())).await;
        let rest = format!("http://{}", running.command_api_addr().unwrap());
        let addr = running.query_api_addr().unwrap();
        let api = running.query_api().unwrap().clone();
        let stack = Stack {
            env,
            running: Some(running),
            rest,
            query: format!("http://{addr}"),
            graphql: format!("http://{addr}/graphql"),
            ws: format!("ws://{addr}/graphql"),
            api,
            client: reqwest::Client::new(),
            key,
        };
        stack.wait_built().await;
        stack
    }

    /// Until every projection has its tables.
    pub async fn wait_built(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_checkpoints")
                .fetch_one(&self.read)
                .await
                .unwrap();
            if n as usize == PROJECTIONS.len() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "projections never built"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the services and deletes the test's JetStream stream.
    pub async fn finish(mut self) {
        if let Some(running) = self.running.take() {
            // Bounded: a client a test left open must not hold it up; what
            // still runs after this is aborted with the pipeline.
            let _ = tokio::time::timeout(Duration::from_secs(10), running.shutdown()).await;
        }
        self.env.cleanup().await;
    }

    /// Until every projection has passed `position`.
    pub async fn settle(&self, position: &str) {
        let target: Position = position.parse().unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let rows: Vec<String> =
                sqlx::query_scalar("SELECT position FROM projection_checkpoints")
                    .fetch_all(&self.read)
                    .await
                    .unwrap();
            if rows.len() == PROJECTIONS.len()
                && rows
                    .iter()
                    .all(|p| p.parse::<Position>().unwrap() >= target)
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "projections never reached {position}: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// As [`Stack::back_office_token`]: a caller who may read every field.
    pub async fn gql(&self, query: &str, variables: Value) -> Gql {
        self.gql_with(query, variables, &[]).await
    }

    pub async fn gql_with(&self, query: &str, variables: Value, headers: &[(&str, &str)]) -> Gql {
        self.post_graphql(json!({ "query": query, "variables": variables }), headers)
            .await
    }

    /// As the caller of `token` (`None`: without a token).
    pub async fn gql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        self.send_graphql(
            token,
            json!({ "query": query, "variables": variables }),
            &[],
        )
        .await
    }

    /// Any body, as raw JSON, as [`Stack::back_office_token`].
    pub async fn post_graphql(&self, body: Value, headers: &[(&str, &str)]) -> Gql {
        let token = self.back_office_token();
        self.send_graphql(Some(&token), body, headers).await
    }

    /// Any body, as the caller of `token`.
    pub async fn send_graphql(
        &self,
        token: Option<&str>,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Gql {
        let mut req = self.client.post(&self.graphql).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Gql { status, body }
    }

    /// A token for `sub` with `roles`, signed with the key the command
    /// API trusts (`sub` is also the customer id).
    pub fn token(&self, sub: &str, roles: &[Role]) -> String {
        let claims = TokenClaims::development(sub, roles, Duration::from_secs(3600));
        mint(&self.key, &claims).unwrap()
    }

    /// A staff token, for reading any order.
    pub fn staff_token(&self) -> String {
        self.token("test-staff", &[Role::Staff])
    }

    /// Staff, finance and operator at once: every GraphQL field (the
    /// default of [`Stack::gql`], for tests about something else).
    pub fn back_office_token(&self) -> String {
        self.token(
            "test-back-office",
            &[Role::Staff, Role::Finance, Role::Operator],
        )
    }

    /// The customer of an order, as staff sees it (`None` if missing).
    async fn owner_of(&self, id: &str) -> Option<String> {
        let r = self
            .client
            .get(format!("{}/orders/{id}", self.rest))
            .bearer_auth(self.staff_token())
            .send()
            .await
            .ok()?;
        let body: Value = r.json().await.ok()?;
        body["customer_id"].as_str().map(str::to_owned)
    }

    /// POSTs a command, signed as the customer it concerns (the body's for
    /// a create, the order's owner otherwise) who may also act as staff and
    /// finance, so each step of an order's life goes through.
    pub async fn rest(&self, path: &str, body: Option<Value>) -> Rest {
        let customer = match path.trim_start_matches("/orders").split('/').nth(1) {
            Some(id) => self.owner_of(id).await,
            None => body
                .as_ref()
                .and_then(|b| b["customer_id"].as_str().map(str::to_owned)),
        }
        .unwrap_or_else(|| "customer-1".to_owned());
        let token = self.token(&customer, &[Role::Customer, Role::Staff, Role::Finance]);
        let mut req = self
            .client
            .post(format!("{}{path}", self.rest))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let position = resp
            .headers()
            .get("x-orderflow-position")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = resp.json().await.unwrap_or(Value::Null);
        Rest {
            status,
            body,
            position,
        }
    }

    /// Creates a draft with these `(sku, quantity, unit price)` lines and
    /// an address; returns its id and the position token.
    pub async fn create_order(
        &self,
        customer: &str,
        currency: &str,
        items: &[(&str, u32, i64)],
    ) -> (Uuid, String) {
        let items: Vec<Value> = items
            .iter()
            .map(|(sku, q, price)| {
                json!({ "sku": sku, "name": format!("Item {sku}"), "quantity": q,
                        "unit_price": { "amount_minor": price, "currency": currency } })
            })
            .collect();
        let r = self
            .rest(
                "/orders",
                Some(json!({
                    "customer_id": customer, "currency": currency, "items": items,
                    "shipping_address": { "name": "Ada", "line1": "1 Main St", "city": "Berlin",
                                          "postal_code": "10115", "country": "DE" }
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().parse().unwrap();
        (id, r.position.unwrap())
    }

    /// Applies `steps`; returns the last position token.
    pub async fn advance(&self, id: Uuid, steps: &[Step]) -> String {
        let mut last = String::new();
        for step in steps {
            let total = || async {
                let r = self
                    .client
                    .get(format!("{}/orders/{id}", self.rest))
                    .bearer_auth(self.staff_token())
                    .send()
                    .await
                    .unwrap();
                let body: Value = r.json().await.unwrap();
                body["total"].clone()
            };
            let (path, body) = match step {
                Step::Submit => ("submit", None),
                Step::Confirm => ("confirm", None),
                Step::Reject(reason) => ("reject", Some(json!({ "reason": reason }))),
                Step::Pay => (
                    "payments",
                    Some(
                        json!({ "payment_id": format!("pay-{}", id.simple()), "amount": total().await }),
                    ),
                ),
                Step::Ship(carrier) => (
                    "ship",
                    Some(
                        json!({ "carrier": carrier, "tracking_number": format!("T-{}", id.simple()) }),
                    ),
                ),
                Step::Deliver => ("deliver", None),
                Step::Cancel(reason) => ("cancel", Some(json!({ "reason": reason }))),
                Step::Refund(amount) => {
                    let currency = total().await["currency"].clone();
                    (
                        "refunds",
                        Some(json!({
                            "refund_id": format!("ref-{}", Uuid::now_v7().simple()),
                            "amount": { "amount_minor": amount, "currency": currency },
                            "reason": "damaged"
                        })),
                    )
                }
            };
            let r = self.rest(&format!("/orders/{id}/{path}"), body).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            last = r.position.unwrap();
        }
        last
    }

    /// Creates an order; its id and the position token of the write.
    pub async fn create_sample_order(&self, extra: &[(&str, &str)]) -> (String, String) {
        let mut request = self
            .client
            .post(format!("{}/orders", self.rest))
            .bearer_auth(self.token("customer-1", &[Role::Customer]))
            .json(&json!({
                "customer_id": "customer-1",
                "currency": "EUR",
                "items": [{ "sku": "SKU-1", "name": "Water bottle", "quantity": 2,
                            "unit_price": { "amount_minor": 1250, "currency": "EUR" } }],
            }));
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let position = response
            .headers()
            .get("x-orderflow-position")
            .map(|v| v.to_str().unwrap().to_owned());
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            position.expect("position header"),
        )
    }

    /// The order through GraphQL, read-your-writes after `position`.
    pub async fn query_order(&self, id: &str, position: &str) -> Value {
        let body: Value = self
            .client
            .post(&self.graphql)
            .bearer_auth(self.staff_token())
            .header("x-orderflow-position", position)
            .json(&json!({ "query": format!("{{ order(id: \"{id}\") {{ id status }} }}") }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        body
    }

    /// `/metrics` of the API at `base`, as an operator (the only role that
    /// reads it on the public port).
    pub async fn scrape(&self, base: &str) -> String {
        let r = self
            .client
            .get(format!("{base}/metrics"))
            .bearer_auth(self.token("test-operator", &[Role::Operator]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }
}

/// The steps from draft to `status`.
pub fn path_to(status: &str) -> Vec<Step> {
    use Step::*;
    match status {
        "draft" => vec![],
        "submitted" => vec![Submit],
        "confirmed" => vec![Submit, Confirm],
        "paid" => vec![Submit, Confirm, Pay],
        "shipped" => vec![Submit, Confirm, Pay, Ship("DHL")],
        "delivered" => vec![Submit, Confirm, Pay, Ship("DHL"), Deliver],
        "cancelled" => vec![Cancel("changed mind")],
        "rejected" => vec![Submit, Reject("out of stock")],
        other => panic!("no path to {other}"),
    }
}
