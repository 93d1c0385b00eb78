//! A small client for the command API, shared by `seed` and the benchmarks.

use anyhow::{Context, bail};
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

#[derive(Debug, Clone)]
pub struct OrderClient {
    http: reqwest::Client,
    base: String,
}

/// An order as the client last saw it.
#[derive(Debug, Clone)]
pub struct SeenOrder {
    pub id: String,
    pub status: String,
    pub total_minor: i64,
    pub items: usize,
    /// The order stream's version after the command.
    pub version: u64,
}

impl OrderClient {
    pub fn new(base: &str) -> anyhow::Result<OrderClient> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(OrderClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
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

    pub async fn create(&self, body: &Value) -> anyhow::Result<SeenOrder> {
        self.send(
            self.http.post(format!("{}/orders", self.base)).json(body),
            201,
        )
        .await
    }

    /// Posts `/orders/{id}/{action}` with an optional body.
    pub async fn act(
        &self,
        id: &str,
        action: &str,
        body: Option<Value>,
    ) -> anyhow::Result<SeenOrder> {
        let req = self
            .http
            .post(format!("{}/orders/{id}/{action}", self.base));
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
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
            version: body["version"].as_u64().unwrap_or(0),
        })
    }

    /// The next step of a typical order's life, or `None` once it is done.
    pub async fn advance(
        &self,
        order: &SeenOrder,
        rng: &mut (impl Rng + Send),
    ) -> anyhow::Result<Option<SeenOrder>> {
        let id = &order.id;
        let next = match order.status.as_str() {
            "draft" if order.items < 3 && rng.random_bool(0.3) => {
                self.act(id, "items", Some(Self::item(rng))).await?
            }
            "draft" => self.act(id, "submit", None).await?,
            "submitted" => self.act(id, "confirm", None).await?,
            "confirmed" => {
                let amount = json!({ "amount_minor": order.total_minor, "currency": "EUR" });
                let payment_id = format!("pay-{}", uuid::Uuid::now_v7().simple());
                self.act(
                    id,
                    "payments",
                    Some(json!({ "payment_id": payment_id, "amount": amount })),
                )
                .await?
            }
            "paid" => {
                let tracking = format!("TRK{}", rng.random_range(100_000..999_999));
                self.act(
                    id,
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
