//! A small client for the command API, shared by `seed` and the benchmarks.
//! Every request carries a bearer token: the customer's own for the
//! customer's steps, a back-office one (staff and finance) for the rest.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use orderflow_auth::{DEFAULT_DEV_KEY_FILE, DevKey, Role, SigningKey, TokenClaims, mint};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

/// What the demo catalogue sells: sku, name, unit price in cents.
const CATALOGUE: &[(&str, &str, i64)] = &[
    ("BOT-750", "Water bottle 750 ml", 1_990),
    ("MUG-CER", "Ceramic mug", 1_250),
    ("TEA-GRN", "Green tea, 100 g", 890),
    ("KET-1L", "Kettle 1 l", 3_490),
    ("CUP-SET", "Espresso cups, set of 4", 2_400),
    ("BAG-TOT", "Canvas tote bag", 1_500),
    ("PEN-FTN", "Fountain pen", 4_900),
    ("NOTE-A5", "Notebook A5, dotted", 1_100),
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "10115", "DE"),
    ("Lyon", "69001", "FR"),
    ("Leeds", "LS1 4AP", "GB"),
    ("Utrecht", "3511 AB", "NL"),
    ("Porto", "4000-322", "PT"),
];

/// How the client gets its tokens.
#[derive(Debug, Clone, Args)]
pub struct ClientAuthArgs {
    /// A bearer token to send with every request instead of minting
    /// development tokens; it needs the customer, staff and finance roles,
    /// and orders are created for its subject.
    #[arg(long = "token", env = "ORDERFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The development signing key tokens are minted with (the services'
    /// key when they run without a JWKS).
    #[arg(long = "dev-key-file", env = "AUTH_DEV_KEY_FILE", default_value = DEFAULT_DEV_KEY_FILE)]
    pub dev_key_file: PathBuf,
}

/// Lifetime of minted tokens: longer than any seed or benchmark run.
const MINTED_TTL: Duration = Duration::from_secs(6 * 3600);
/// The subject of the back-office token.
const BACK_OFFICE: &str = "orderflow-back-office";

/// Where the client's bearer tokens come from.
#[derive(Debug, Clone)]
pub enum Tokens {
    /// Minted up front and cached: one per customer, one for the back office.
    Minted {
        key: SigningKey,
        cache: Arc<Mutex<HashMap<String, String>>>,
    },
    /// One token for everything; orders are created for `customer`.
    Fixed { token: String, customer: String },
}

impl Tokens {
    pub fn minted(key: SigningKey) -> Tokens {
        Tokens::Minted {
            key,
            cache: Arc::default(),
        }
    }

    /// `ORDERFLOW_TOKEN` if given, else tokens minted with the dev key.
    pub fn from_args(args: &ClientAuthArgs) -> anyhow::Result<Tokens> {
        if let Some(token) = &args.token {
            let customer = unverified_subject(token)
                .context("ORDERFLOW_TOKEN is not a JWT with a `sub` claim")?;
            return Ok(Tokens::Fixed {
                token: token.clone(),
                customer,
            });
        }
        let key = DevKey::load_or_create(&args.dev_key_file)?;
        Ok(Tokens::minted(key.key))
    }

    fn token(&self, subject: &str, roles: &[Role]) -> anyhow::Result<String> {
        match self {
            Tokens::Fixed { token, .. } => Ok(token.clone()),
            Tokens::Minted { key, cache } => {
                let mut cache = cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(token) = cache.get(subject) {
                    return Ok(token.clone());
                }
                let claims = TokenClaims::development(subject, roles, MINTED_TTL);
                let token = mint(key, &claims).context("mint a development token")?;
                cache.insert(subject.to_owned(), token.clone());
                Ok(token)
            }
        }
    }

    fn customer(&self, customer: &str) -> anyhow::Result<String> {
        self.token(customer, &[Role::Customer])
    }

    /// The staff and finance token (it reads every order).
    pub fn back_office(&self) -> anyhow::Result<String> {
        self.token(BACK_OFFICE, &[Role::Staff, Role::Finance])
    }
}

/// The `sub` of a token, read without checking it: the server does that.
fn unverified_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&json).ok()?;
    claims["sub"].as_str().map(str::to_owned)
}

#[derive(Debug, Clone)]
pub struct OrderClient {
    http: reqwest::Client,
    base: String,
    tokens: Tokens,
}

/// An order as the client last saw it.
#[derive(Debug, Clone)]
pub struct SeenOrder {
    pub id: String,
    pub status: String,
    pub total_minor: i64,
    pub items: usize,
    /// Whose order it is.
    pub customer: String,
    /// The order stream's version after the command.
    pub version: u64,
}

impl OrderClient {
    pub fn new(base: &str, tokens: Tokens) -> anyhow::Result<OrderClient> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(OrderClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            tokens,
        })
    }

    pub fn item(rng: &mut impl Rng) -> Value {
        let (sku, name, price) = CATALOGUE.choose(rng).copied().unwrap_or(CATALOGUE[0]);
        json!({
            "sku": sku, "name": name, "quantity": rng.random_range(1..=3),
            "unit_price": { "amount_minor": price, "currency": "EUR" }
        })
    }

    pub fn new_order_body(rng: &mut impl Rng, customers: u32) -> Value {
        let (city, postal_code, country) = CITIES.choose(rng).copied().unwrap_or(CITIES[0]);
        let items: Vec<Value> = (0..rng.random_range(1..=3))
            .map(|_| Self::item(rng))
            .collect();
        json!({
            "customer_id": format!("customer-{}", rng.random_range(1..=customers.max(1))),
            "currency": "EUR",
            "items": items,
            "shipping_address": {
                "name": "Demo Customer", "line1": format!("{} Market Street", rng.random_range(1..200)),
                "city": city, "postal_code": postal_code, "country": country
            }
        })
    }

    /// Creates the order as its customer (with a fixed token: for the
    /// token's subject, whatever the body says).
    pub async fn create(&self, body: &Value) -> anyhow::Result<SeenOrder> {
        let mut body = body.clone();
        if let Tokens::Fixed { customer, .. } = &self.tokens {
            body["customer_id"] = Value::from(customer.as_str());
        }
        let customer = body["customer_id"].as_str().unwrap_or_default();
        let token = self.tokens.customer(customer)?;
        self.send(
            self.http
                .post(format!("{}/orders", self.base))
                .bearer_auth(token)
                .json(&body),
            201,
        )
        .await
    }

    /// Posts `/orders/{id}/{action}` with an optional body: as the order's
    /// customer for the customer's own steps, else as the back office.
    pub async fn act(
        &self,
        order: &SeenOrder,
        action: &str,
        body: Option<Value>,
    ) -> anyhow::Result<SeenOrder> {
        let token = match action {
            "items" | "submit" | "cancel" | "shipping-address" => {
                self.tokens.customer(&order.customer)?
            }
            _ => self.tokens.back_office()?,
        };
        let req = self
            .http
            .post(format!("{}/orders/{}/{action}", self.base, order.id))
            .bearer_auth(token);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        self.send(req, 200).await
    }

    /// Receives `quantity` units of every catalogue sku (as staff), so the
    /// fulfilment saga, where it runs, can reserve what orders ask for.
    pub async fn stock_catalogue(&self, quantity: u64) -> anyhow::Result<()> {
        let token = self.tokens.back_office()?;
        for (sku, _, _) in CATALOGUE {
            let resp = self
                .http
                .post(format!("{}/inventory/{sku}/receipts", self.base))
                .bearer_auth(&token)
                .json(&json!({ "quantity": quantity }))
                .send()
                .await
                .context("command API unreachable")?;
            if !resp.status().is_success() {
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or_default();
                bail!(
                    "receiving stock of {sku}: HTTP {status}: {}",
                    body["detail"].as_str().unwrap_or("?")
                );
            }
        }
        Ok(())
    }

    /// The order as the command API has it now (read as the back office).
    pub async fn reload(&self, order: &SeenOrder) -> anyhow::Result<SeenOrder> {
        let req = self
            .http
            .get(format!("{}/orders/{}", self.base, order.id))
            .bearer_auth(self.tokens.back_office()?);
        self.send(req, 200).await
    }

    async fn send(&self, req: reqwest::RequestBuilder, expect: u16) -> anyhow::Result<SeenOrder> {
        let resp = req.send().await.context("command API unreachable")?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.context("response is not JSON")?;
        if status != expect {
            bail!("HTTP {status}: {}", body["detail"].as_str().unwrap_or("?"));
        }
        Ok(SeenOrder {
            id: body["id"].as_str().unwrap_or_default().to_owned(),
            status: body["status"].as_str().unwrap_or_default().to_owned(),
            total_minor: body["total"]["amount_minor"].as_i64().unwrap_or(0),
            items: body["items"].as_array().map_or(0, Vec::len),
            customer: body["customer_id"].as_str().unwrap_or_default().to_owned(),
            version: body["version"].as_u64().unwrap_or(0),
        })
    }

    /// The next step of a typical order's life, or `None` once it is done.
    pub async fn advance(
        &self,
        order: &SeenOrder,
        rng: &mut (impl Rng + Send),
    ) -> anyhow::Result<Option<SeenOrder>> {
        let next = match order.status.as_str() {
            "draft" if order.items < 3 && rng.random_bool(0.3) => {
                self.act(order, "items", Some(Self::item(rng))).await?
            }
            "draft" => self.act(order, "submit", None).await?,
            "submitted" => self.act(order, "confirm", None).await?,
            "confirmed" => {
                let amount = json!({ "amount_minor": order.total_minor, "currency": "EUR" });
                let payment_id = format!("pay-{}", uuid::Uuid::now_v7().simple());
                self.act(
                    order,
                    "payments",
                    Some(json!({ "payment_id": payment_id, "amount": amount })),
                )
                .await?
            }
            "paid" => {
                let tracking = format!("TRK{}", rng.random_range(100_000..999_999));
                self.act(
                    order,
                    "ship",
                    Some(json!({ "carrier": "DHL", "tracking_number": tracking })),
                )
                .await?
            }
            _ => return Ok(None),
        };
        Ok(Some(next))
    }
}
