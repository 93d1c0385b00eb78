//! The whole pipeline per test, as `orderflow up` runs it: command API
//! (REST) → Postgres event store → relay → JetStream → projector → read
//! database → query API, each test with its own databases, JetStream
//! stream and subject prefix.

use std::sync::Arc;
use std::time::Duration;

use orderflow_command_api::CommandApiConfig;
use orderflow_event_store::relay::RelayConfig;
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig, Position};
use orderflow_projections::{PROJECTIONS, ProjectorConfig, connect_read_db};
use orderflow_query_api::{QueryApi, QueryApiConfig, serve_api};
use orderflow_testkit::TestDb;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

#[allow(dead_code)] // The databases live as long as the fixture.
pub struct Env {
    pub events_db: TestDb,
    pub read_db: TestDb,
    pub store: PgEventStore,
    /// The projector's pool on the read database.
    pub read: PgPool,
    pub prefix: String,
    pub stream_name: String,
    pub rest: String,
    pub graphql: String,
    pub ws: String,
    pub api: QueryApi,
    pub client: reqwest::Client,
    stops: Vec<oneshot::Sender<()>>,
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

fn spawn_until<F>(f: impl FnOnce(oneshot::Receiver<()>) -> F) -> oneshot::Sender<()>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send,
{
    let (tx, rx) = oneshot::channel();
    tokio::spawn(f(rx));
    tx
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut QueryApiConfig)) -> Env {
        let events_db = TestDb::new().await;
        let read_db = TestDb::new().await;
        let store = PgEventStore::connect(PgStoreConfig::new(events_db.url()))
            .await
            .unwrap();
        let read = connect_read_db(read_db.url(), 8).await.unwrap();
        let id = Uuid::now_v7().simple().to_string();
        let prefix = format!("qt{id}");
        let stream_name = format!("QT_{id}");
        let projector = ProjectorConfig {
            events_database_url: events_db.url().to_owned(),
            read_database_url: read_db.url().to_owned(),
            nats_url: nats_url(),
            stream_name: stream_name.clone(),
            subject_prefix: prefix.clone(),
            standby_interval: Duration::from_millis(200),
            ..ProjectorConfig::default()
        };
        let relay = RelayConfig {
            nats_url: nats_url(),
            stream_name: stream_name.clone(),
            subject_prefix: prefix.clone(),
            max_age: Duration::from_secs(600),
            ..RelayConfig::default()
        };
        let mut stops = Vec::new();
        let shared: Arc<dyn EventStore> = Arc::new(store.clone());
        {
            let (store, read, events) = (shared.clone(), read.clone(), store.pool().clone());
            stops.push(spawn_until(move |rx| async move {
                let _ = orderflow_projections::run_projector_with(
                    store,
                    read,
                    Some(events),
                    projector,
                    async {
                        let _ = rx.await;
                    },
                )
                .await;
            }));
        }
        {
            let (store, pool) = (shared.clone(), store.pool().clone());
            stops.push(spawn_until(move |rx| async move {
                let _ = orderflow_event_store::relay::run_relay(store, pool, relay, async {
                    let _ = rx.await;
                })
                .await;
            }));
        }
        let command_config = CommandApiConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..CommandApiConfig::default()
        };
        let listener = orderflow_command_api::bind(&command_config).await.unwrap();
        let rest = format!("http://{}", listener.local_addr().unwrap());
        {
            let store = shared.clone();
            stops.push(spawn_until(move |rx| {
                orderflow_command_api::serve_on(listener, store, command_config, async {
                    let _ = rx.await;
                })
            }));
        }

        let mut config = QueryApiConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            read_database_url: read_db.url().to_owned(),
            events_database_url: Some(events_db.url().to_owned()),
            nats_url: nats_url(),
            subject_prefix: prefix.clone(),
            ..QueryApiConfig::default()
        };
        configure(&mut config);
        let api = QueryApi::connect(&config).await.unwrap();
        let listener = orderflow_query_api::bind(&config).await.unwrap();
        let addr = listener.local_addr().unwrap();
        {
            let api = api.clone();
            stops.push(spawn_until(move |rx| {
                serve_api(listener, api, async {
                    let _ = rx.await;
                })
            }));
        }
        let env = Env {
            events_db,
            read_db,
            store,
            read,
            prefix,
            stream_name,
            rest,
            graphql: format!("http://{addr}/graphql"),
            ws: format!("ws://{addr}/graphql"),
            api,
            client: reqwest::Client::new(),
            stops,
        };
        env.wait_built().await;
        env
    }

    /// Until every projection has its tables.
    async fn wait_built(&self) {
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
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        if let Ok(c) = async_nats::connect(nats_url()).await {
            let _ = async_nats::jetstream::new(c)
                .delete_stream(&self.stream_name)
                .await;
        }
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

    pub async fn gql(&self, query: &str, variables: Value) -> Gql {
        self.gql_with(query, variables, &[]).await
    }

    pub async fn gql_with(&self, query: &str, variables: Value, headers: &[(&str, &str)]) -> Gql {
        self.post_graphql(json!({ "query": query, "variables": variables }), headers)
            .await
    }

    /// Any body, as raw JSON.
    pub async fn post_graphql(&self, body: Value, headers: &[(&str, &str)]) -> Gql {
        let mut req = self.client.post(&self.graphql).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Gql { status, body }
    }

    pub async fn rest(&self, path: &str, body: Option<Value>) -> Rest {
        let mut req = self.client.post(format!("{}{path}", self.rest));
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
