//! A running command API on a fresh database, and a small client for it.
//! The server trusts a key generated for the test; [`TestApp::send`] signs
//! each request that has no `Authorization` header as the order's owner
//! (with the staff and finance roles too), so tests about other things
//! see the API as before; auth tests set their own header.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orderflow_auth::{
    AuthConfig, DEV_AUDIENCE, DEV_ISSUER, KeySource, Role, SigningKey, TokenClaims, Verifier, mint,
};
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
    pub auth: TestAuth,
    /// A client without default headers, for [`TestApp::send_exactly`].
    plain: reqwest::Client,
    /// Order id → customer, learned from answers (see [`TestApp::send`]).
    owners: Mutex<HashMap<String, String>>,
    _shutdown: oneshot::Sender<()>,
}

/// The key the test server trusts, and tokens signed with it.
#[derive(Debug, Clone)]
pub struct TestAuth {
    pub key: SigningKey,
    /// Fetch the keys from this JWKS URL instead of trusting `key` alone.
    pub jwks_url: Option<String>,
}

/// The customer of `new_order()`, and whom a request with no owner to
/// look up is signed as.
pub const DEFAULT_CUSTOMER: &str = "customer-1";

impl TestAuth {
    pub fn new() -> TestAuth {
        TestAuth {
            key: SigningKey::generate_ed25519().expect("test key"),
            jwks_url: None,
        }
    }

    /// What the server is configured with: the test key, the development
    /// issuer and audience.
    pub fn config(&self) -> AuthConfig {
        let source = match &self.jwks_url {
            Some(url) => KeySource::Url(url.clone()),
            None => KeySource::Static(self.key.jwks()),
        };
        AuthConfig::jwks(source, DEV_ISSUER, DEV_AUDIENCE)
    }

    pub async fn verifier(&self) -> Arc<Verifier> {
        Arc::new(Verifier::new(self.config()).await.expect("verifier"))
    }

    /// A valid token for `sub` with `roles` (the customer id is `sub`).
    pub fn token(&self, sub: &str, roles: &[Role]) -> String {
        self.sign(&TokenClaims::development(
            sub,
            roles,
            Duration::from_secs(600),
        ))
    }

    pub fn sign(&self, claims: &TokenClaims) -> String {
        mint(&self.key, claims).expect("sign")
    }

    /// A client whose requests carry [`Self::everything_for`] the default
    /// customer unless they set their own `Authorization`.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = HeaderMap::new();
        let value = format!("Bearer {}", self.everything_for(DEFAULT_CUSTOMER));
        headers.insert("authorization", value.parse().expect("header"));
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("client")
    }

    /// What tests not about auth send: the owner, who may also do
    /// everything staff and finance may.
    pub fn everything_for(&self, customer: &str) -> String {
        self.token(customer, &[Role::Customer, Role::Staff, Role::Finance])
    }
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

    pub async fn start_with(config: CommandApiConfig) -> TestApp {
        Self::start_with_auth(config, TestAuth::new()).await
    }

    pub async fn start_with_auth(mut config: CommandApiConfig, auth: TestAuth) -> TestApp {
        let db = TestDb::new().await;
        let mut store_config = PgStoreConfig::new(db.url());
        store_config.connect_timeout = Duration::from_secs(1);
        let store = PgEventStore::connect(store_config).await.expect("store");
        config.addr = "127.0.0.1:0".parse().unwrap();
        let listener = bind(&config).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let verifier = auth.verifier().await;
        tokio::spawn(serve_on(
            listener,
            Arc::new(store.clone()),
            config,
            verifier,
            async {
                let _ = rx.await;
            },
        ));
        TestApp {
            base,
            client: auth.client(),
            plain: reqwest::Client::new(),
            store,
            db,
            auth,
            owners: Mutex::new(HashMap::new()),
            _shutdown: tx,
        }
    }

    /// Sends `req`; without an `Authorization` header it is signed as the
    /// customer it concerns: the body's `customer_id` for a create, the
    /// order's owner for a request on an order (asked with a staff token
    /// if this app has not seen the order yet).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let mut request = req.build().expect("request");
        if !request.headers().contains_key("authorization") {
            let customer = self.customer_of(&request).await;
            let value = format!("Bearer {}", self.auth.everything_for(&customer));
            request
                .headers_mut()
                .insert("authorization", value.parse().expect("header"));
        }
        self.send_exactly(request).await
    }

    /// Sends `request` as it is: with no `Authorization`, with none.
    pub async fn send_exactly(&self, request: reqwest::Request) -> Resp {
        let resp = self.plain.execute(request).await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        if let (Some(id), Some(customer)) = (body["id"].as_str(), body["customer_id"].as_str()) {
            self.owners
                .lock()
                .unwrap()
                .insert(id.to_owned(), customer.to_owned());
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn customer_of(&self, request: &reqwest::Request) -> String {
        let path = request.url().path().to_owned();
        let mut segments = path.trim_start_matches('/').split('/');
        let (Some("orders"), id) = (segments.next(), segments.next()) else {
            return DEFAULT_CUSTOMER.to_owned();
        };
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            let body = request.body().and_then(|b| b.as_bytes());
            let body: Option<Value> = body.and_then(|b| serde_json::from_slice(b).ok());
            return body
                .and_then(|b| b["customer_id"].as_str().map(str::to_owned))
                // A body with an invalid one is refused for that; sign it
                // as a valid customer so that is what the test sees.
                .filter(|c| orderflow_domain::CustomerId::new(c.as_str()).is_ok())
                .unwrap_or_else(|| DEFAULT_CUSTOMER.to_owned());
        };
        if let Some(owner) = self.owners.lock().unwrap().get(id) {
            return owner.clone();
        }
        let staff = self.auth.token("test-staff", &[Role::Staff]);
        let order: Option<Value> = async {
            let r = self
                .client
                .get(self.url(&format!("/orders/{id}")))
                .bearer_auth(staff)
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())?;
            r.json().await.ok()
        }
        .await;
        order
            .and_then(|o| o["customer_id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_CUSTOMER.to_owned())
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
