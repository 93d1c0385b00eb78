//! A running command API on a fresh database, and a small client for it.

use std::sync::Arc;
use std::time::Duration;

use orderflow_command_api::{CommandApiConfig, bind, serve_on};
use orderflow_event_store::{PgEventStore, PgStoreConfig};
use orderflow_testkit::TestDb;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: PgEventStore,
    pub db: TestDb,
    _shutdown: oneshot::Sender<()>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_owned())
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("ETag header")
    }

    /// Asserts a problem+json answer with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:orderflow:problem:")
        );
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(CommandApiConfig::default()).await
    }

    pub async fn start_with(mut config: CommandApiConfig) -> TestApp {
        let db = TestDb::new().await;
        let mut store_config = PgStoreConfig::new(db.url());
        store_config.connect_timeout = Duration::from_secs(1);
        let store = PgEventStore::connect(store_config).await.expect("store");
        config.addr = "127.0.0.1:0".parse().unwrap();
        let listener = bind(&config).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(serve_on(listener, Arc::new(store.clone()), config, async {
            let _ = rx.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::new(),
            store,
            db,
            _shutdown: tx,
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    pub async fn post_empty(&self, path: &str) -> Resp {
        self.send(self.client.post(self.url(path))).await
    }

    /// Creates a draft with one item and an address; returns its id.
    pub async fn create_order(&self) -> String {
        let r = self.post("/orders", new_order()).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Number of events stored for an order.
    pub async fn event_count(&self, id: &str) -> usize {
        let r = self.get(&format!("/orders/{id}/events")).await;
        if r.status == 404 {
            return 0;
        }
        // The stream version, not the page's length: the history is paged.
        r.body["version"].as_u64().unwrap() as usize
    }
}

pub fn money(amount_minor: i64) -> Value {
    json!({ "amount_minor": amount_minor, "currency": "EUR" })
}

pub fn address() -> Value {
    json!({
        "name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
        "postal_code": "N1 9GU", "country": "GB"
    })
}

pub fn new_order() -> Value {
    json!({
        "customer_id": "customer-1",
        "currency": "EUR",
        "channel": "web",
        "items": [{ "sku": "SKU-1", "name": "Water bottle", "quantity": 2, "unit_price": money(1250) }],
        "shipping_address": address()
    })
}
