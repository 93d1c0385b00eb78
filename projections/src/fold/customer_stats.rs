//! `customer_stats` (order counts by status, first and last order) and
//! `customer_lifetime_value` (paid − refunded per currency). Both are sums,
//! so a batch writes additive deltas without reading the rows first.
//!
//! Version 2: the money sums are `numeric`, so no number of orders can
//! overflow them (a `bigint` sum stalled the projection on two orders of
//! 2^62 minor units); the deltas are `i128` in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_domain::{Currency, OrderEvent, OrderStatus};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::copy::CopyBuf;
use super::private::{States, state_sql};
use super::{Fold, ProjectionDef, add_i128, unknown_order};
use crate::decode::Decoded;
use crate::error::FoldError;

pub(super) const DEF: ProjectionDef = ProjectionDef {
    name: "customer_stats",
    version: 2,
    tables: &[
        "customer_stats",
        "customer_lifetime_value",
        "customer_stats_orders",
    ],
    ddl: "CREATE TABLE customer_stats (
        customer_id      text   PRIMARY KEY,
        order_count      bigint NOT NULL,
        draft_count      bigint NOT NULL,
        submitted_count  bigint NOT NULL,
        confirmed_count  bigint NOT NULL,
        paid_count       bigint NOT NULL,
        shipped_count    bigint NOT NULL,
        delivered_count  bigint NOT NULL,
        cancelled_count  bigint NOT NULL,
        rejected_count   bigint NOT NULL,
        first_order_at   timestamptz,
        last_order_at    timestamptz
    );
    CREATE TABLE customer_lifetime_value (
        customer_id     text   NOT NULL,
        currency        text   NOT NULL,
        paid_minor      numeric NOT NULL,
        refunded_minor  numeric NOT NULL,
        net_minor       numeric GENERATED ALWAYS AS (paid_minor - refunded_minor) STORED,
        PRIMARY KEY (customer_id, currency)
    );
    CREATE TABLE customer_stats_orders (order_id uuid PRIMARY KEY, state text NOT NULL);",
    indexes: "",
    new_fold: || Box::new(CustomerFold::new()),
};

/// What this fold remembers per order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OrderInfo {
    customer: String,
    currency: Currency,
    status: OrderStatus,
}

#[derive(Debug, Default)]
struct StatsDelta {
    orders: i64,
    by_status: [i64; 8],
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct CustomerFold {
    states: States<OrderInfo>,
    stats: HashMap<String, StatsDelta>,
    ltv: HashMap<(String, Currency), (i128, i128)>,
}

impl CustomerFold {
    fn new() -> Self {
        CustomerFold {
            states: States::new(state_sql!("customer_stats_orders")),
            stats: HashMap::new(),
            ltv: HashMap::new(),
        }
    }
}

fn slot(status: OrderStatus) -> usize {
    OrderStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or(0)
}

fn new_status(event: &OrderEvent) -> Option<OrderStatus> {
    Some(match event {
        OrderEvent::OrderSubmitted(_) => OrderStatus::Submitted,
        OrderEvent::OrderConfirmed(_) => OrderStatus::Confirmed,
        OrderEvent::OrderRejected(_) => OrderStatus::Rejected,
        OrderEvent::PaymentRecorded(_) => OrderStatus::Paid,
        OrderEvent::OrderShipped(_) => OrderStatus::Shipped,
        OrderEvent::OrderDelivered(_) => OrderStatus::Delivered,
        OrderEvent::OrderCancelled(_) => OrderStatus::Cancelled,
        _ => return None,
    })
}

#[async_trait]
impl Fold for CustomerFold {
    async fn load(&mut self, conn: &mut PgConnection, orders: &[Uuid]) -> Result<(), sqlx::Error> {
        self.states.load(conn, orders).await
    }

    fn is_cached(&self, order: &Uuid) -> bool {
        self.states.map.contains_key(order)
    }

    fn apply(&mut self, e: &Decoded) -> Result<(), FoldError> {
        if let OrderEvent::OrderCreated(c) = &e.event {
            let customer = c.customer_id.as_str().to_owned();
            let d = self.stats.entry(customer.clone()).or_default();
            d.orders += 1;
            d.by_status[slot(OrderStatus::Draft)] += 1;
            d.first = Some(d.first.map_or(c.at, |f| f.min(c.at)));
            d.last = Some(d.last.map_or(c.at, |l| l.max(c.at)));
            self.states.insert(
                e.order_id,
                OrderInfo {
                    customer,
                    currency: c.currency,
                    status: OrderStatus::Draft,
                },
            );
            return Ok(());
        }
        let status = new_status(&e.event);
        let money = match &e.event {
            OrderEvent::PaymentRecorded(p) => Some((p.amount.amount_minor, 0)),
            OrderEvent::RefundIssued(r) => Some((0, r.amount.amount_minor)),
            _ => None,
        };
        if status.is_none() && money.is_none() {
            return Ok(());
        }
        let info = self
            .states
            .get_mut(&e.order_id)
            .ok_or_else(|| unknown_order(e))?;
        if let Some(status) = status {
            // Look up before inserting: a customer key is cloned once per
            // batch, not once per event.
            let d = match self.stats.get_mut(&info.customer) {
                Some(d) => d,
                None => self.stats.entry(info.customer.clone()).or_default(),
            };
            d.by_status[slot(info.status)] -= 1;
            d.by_status[slot(status)] += 1;
            info.status = status;
        }
        if let Some((paid, refunded)) = money {
            let v = self
                .ltv
                .entry((info.customer.clone(), info.currency))
                .or_default();
            v.0 = add_i128(e, "paid_minor", v.0, i128::from(paid))?;
            v.1 = add_i128(e, "refunded_minor", v.1, i128::from(refunded))?;
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.states.flush(&mut *conn).await?;
        if !self.stats.is_empty() {
            let mut customer = Vec::new();
            let mut orders = Vec::new();
            let mut counts: [Vec<i64>; 8] = Default::default();
            let mut first = Vec::new();
            let mut last = Vec::new();
            for (c, d) in self.stats.drain() {
                customer.push(c);
                orders.push(d.orders);
                for (i, n) in d.by_status.iter().enumerate() {
                    counts[i].push(*n);
                }
                first.push(d.first);
                last.push(d.last);
            }
            let [
                draft,
                submitted,
                confirmed,
                paid,
                shipped,
                delivered,
                cancelled,
                rejected,
            ] = counts;
            sqlx::query(
                "INSERT INTO customer_stats AS t (customer_id, order_count, draft_count, \
                     submitted_count, confirmed_count, paid_count, shipped_count, \
                     delivered_count, cancelled_count, rejected_count, first_order_at, \
                     last_order_at) \
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], \
                     $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], \
                     $11::timestamptz[], $12::timestamptz[]) \
                 ON CONFLICT (customer_id) DO UPDATE SET \
                     order_count = t.order_count + excluded.order_count, \
                     draft_count = t.draft_count + excluded.draft_count, \
                     submitted_count = t.submitted_count + excluded.submitted_count, \
                     confirmed_count = t.confirmed_count + excluded.confirmed_count, \
                     paid_count = t.paid_count + excluded.paid_count, \
                     shipped_count = t.shipped_count + excluded.shipped_count, \
                     delivered_count = t.delivered_count + excluded.delivered_count, \
                     cancelled_count = t.cancelled_count + excluded.cancelled_count, \
                     rejected_count = t.rejected_count + excluded.rejected_count, \
                     first_order_at = LEAST(t.first_order_at, excluded.first_order_at), \
                     last_order_at = GREATEST(t.last_order_at, excluded.last_order_at)",
            )
            .bind(customer)
            .bind(orders)
            .bind(draft)
            .bind(submitted)
            .bind(confirmed)
            .bind(paid)
            .bind(shipped)
            .bind(delivered)
            .bind(cancelled)
            .bind(rejected)
            .bind(first)
            .bind(last)
            .execute(&mut *conn)
            .await?;
        }
        if !self.ltv.is_empty() {
            let mut customer = Vec::new();
            let mut currency = Vec::new();
            let mut paid = Vec::new();
            let mut refunded = Vec::new();
            for ((c, cur), (p, r)) in self.ltv.drain() {
                customer.push(c);
                currency.push(cur.as_str().to_owned());
                paid.push(p.to_string());
                refunded.push(r.to_string());
            }
            sqlx::query(
                "INSERT INTO customer_lifetime_value AS t (customer_id, currency, paid_minor, \
                     refunded_minor) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[]::numeric[], \
                     $4::text[]::numeric[]) \
                 ON CONFLICT (customer_id, currency) DO UPDATE SET \
                     paid_minor = t.paid_minor + excluded.paid_minor, \
                     refunded_minor = t.refunded_minor + excluded.refunded_minor",
            )
            .bind(customer)
            .bind(currency)
            .bind(paid)
            .bind(refunded)
            .execute(conn)
            .await?;
        }
        Ok(())
    }

    async fn copy_into_empty(
        &mut self,
        conn: &mut PgConnection,
        rows: usize,
    ) -> Result<(), sqlx::Error> {
        self.states.copy_into_empty(&mut *conn, rows).await?;
        let mut b = CopyBuf::new(
            "COPY customer_stats (customer_id, order_count, draft_count, submitted_count, \
                 confirmed_count, paid_count, shipped_count, delivered_count, cancelled_count, \
                 rejected_count, first_order_at, last_order_at) FROM STDIN",
            rows,
        );
        for (c, d) in self.stats.drain() {
            b.text(&c).int(d.orders);
            for n in d.by_status {
                b.int(n);
            }
            b.opt_ts(d.first).opt_ts(d.last).end_row();
            b.send_full(&mut *conn).await?;
        }
        b.finish(&mut *conn).await?;
        let mut b = CopyBuf::new(
            "COPY customer_lifetime_value (customer_id, currency, paid_minor, refunded_minor) \
             FROM STDIN",
            rows,
        );
        for ((c, cur), (p, r)) in self.ltv.drain() {
            b.text(&c).text(cur.as_str()).big(p).big(r).end_row();
            b.send_full(&mut *conn).await?;
        }
        b.finish(conn).await
    }

    fn cached(&self) -> usize {
        self.states.map.len()
    }

    fn clear(&mut self) {
        self.states.clear();
        self.stats.clear();
        self.ltv.clear();
    }
}
