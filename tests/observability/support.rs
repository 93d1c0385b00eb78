//! Starts every service in this process, the way `orderflow up` does.

use std::sync::Arc;
use std::time::Duration;

use orderflow_command_api::CommandApiConfig;
use orderflow_event_store::relay::RelayConfig;
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig};
use orderflow_projections::{PROJECTIONS, ProjectorConfig, connect_read_db};
use orderflow_query_api::QueryApiConfig;
use orderflow_testkit::TestDb;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

pub struct Pipeline {
    pub store: PgEventStore,
    pub read: PgPool,
    pub rest: String,
    pub query: String,
    pub prefix: String,
    pub stream_name: String,
    pub client: reqwest::Client,
    stops: Vec<oneshot::Sender<()>>,
    _events_db: TestDb,
    _read_db: TestDb,
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

impl Pipeline {
    pub async fn start() -> Pipeline {
        let events_db = TestDb::new().await;
        let read_db = TestDb::new().await;
        let store = PgEventStore::connect(PgStoreConfig::new(events_db.url()))
            .await
            .unwrap();
        let read = connect_read_db(read_db.url(), 8).await.unwrap();
        let id = Uuid::now_v7().simple().to_string();
        let prefix = format!("ot{id}");
        let stream_name = format!("OT_{id}");
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
        let config = QueryApiConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            read_database_url: read_db.url().to_owned(),
            events_database_url: Some(events_db.url().to_owned()),
            nats_url: nats_url(),
            subject_prefix: prefix.clone(),
            ..QueryApiConfig::default()
        };
        let listener = orderflow_query_api::bind(&config).await.unwrap();
        let query = format!("http://{}", listener.local_addr().unwrap());
        stops.push(spawn_until(move |rx| {
            orderflow_query_api::serve_on(listener, config, async {
                let _ = rx.await;
            })
        }));
        let pipeline = Pipeline {
            store,
            read,
            rest,
            query,
            prefix,
            stream_name,
            client: reqwest::Client::new(),
            stops,
            _events_db: events_db,
            _read_db: read_db,
        };
        pipeline.wait_built().await;
        pipeline
    }

    async fn wait_built(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_checkpoints")
                .fetch_one(&self.read)
                .await
                .unwrap_or(0);
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

    /// Creates an order; its id and the position token of the write.
    pub async fn create_order(&self, extra: &[(&str, &str)]) -> (String, String) {
        let mut request = self
            .client
            .post(format!("{}/orders", self.rest))
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
            .post(format!("{}/graphql", self.query))
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

    pub async fn scrape(&self, base: &str) -> String {
        let r = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

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
}
