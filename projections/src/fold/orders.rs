//! `orders`: one row per order. While an order is a draft its lines are
//! kept as JSON in `draft_lines`, so totals can follow quantity changes
//! without reading another projection; once submitted the lines are fixed
//! and the column is emptied (`order_items` has them).
//!
//! Version 2 added `channel` (from `OrderCreated` v2; `unknown` for orders
//! created before it) and `shipping_address`, the last address set, as
//! JSON in the domain's `ShippingAddress` shape (null until one is set).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_domain::{Channel, OrderEvent, OrderStatus, ShippingAddress};
use orderflow_event_store::Position;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::copy::CopyBuf;
use super::lines::{Line, apply_line_event, total_minor, units};
use super::{Fold, ProjectionDef, overflow, unknown_order};
use crate::decode::Decoded;
use crate::error::FoldError;

pub(super) const DEF: ProjectionDef = ProjectionDef {
    name: "orders",
    version: 2,
    tables: &["orders"],
    ddl: "CREATE TABLE orders (
        order_id        uuid        PRIMARY KEY,
        customer_id     text        NOT NULL,
        status          text        NOT NULL,
        currency        text        NOT NULL,
        channel         text        NOT NULL,
        shipping_address jsonb,
        line_count      int         NOT NULL,
        item_count      bigint      NOT NULL,
        total_minor     bigint      NOT NULL,
        paid_minor      bigint      NOT NULL,
        refunded_minor  bigint      NOT NULL,
        carrier         text,
        tracking_number text,
        cancellation_reason text,
        rejection_reason    text,
        created_at      timestamptz NOT NULL,
        submitted_at    timestamptz,
        confirmed_at    timestamptz,
        paid_at         timestamptz,
        shipped_at      timestamptz,
        delivered_at    timestamptz,
        cancelled_at    timestamptz,
        rejected_at     timestamptz,
        updated_at      timestamptz NOT NULL,
        stream_version  bigint      NOT NULL,
        last_position   text        NOT NULL,
        draft_lines     jsonb       NOT NULL
    );",
    indexes: "CREATE INDEX orders_customer ON orders (customer_id, created_at);
        CREATE INDEX orders_status ON orders (status, created_at);
        CREATE INDEX orders_created ON orders (created_at);
        CREATE INDEX orders_channel ON orders (channel, created_at);",
    new_fold: || Box::new(OrdersFold::default()),
};

#[derive(Debug, Clone)]
struct OrderRow {
    customer_id: String,
    status: OrderStatus,
    currency: String,
    channel: Channel,
    shipping_address: Option<ShippingAddress>,
    paid_minor: i64,
    refunded_minor: i64,
    carrier: Option<String>,
    tracking_number: Option<String>,
    cancellation_reason: Option<String>,
    rejection_reason: Option<String>,
    created_at: DateTime<Utc>,
    submitted_at: Option<DateTime<Utc>>,
    confirmed_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    shipped_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    rejected_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    stream_version: i64,
    last_position: Position,
    line_count: i32,
    item_count: i64,
    total_minor: i64,
    /// Only while a draft.
    lines: Vec<Line>,
}

#[derive(Debug, Default)]
struct OrdersFold {
    rows: HashMap<Uuid, OrderRow>,
    dirty: HashSet<Uuid>,
}

fn status_from(s: &str) -> OrderStatus {
    OrderStatus::ALL
        .into_iter()
        .find(|st| st.as_str() == s)
        .unwrap_or(OrderStatus::Draft)
}

#[async_trait]
impl Fold for OrdersFold {
    async fn load(&mut self, conn: &mut PgConnection, orders: &[Uuid]) -> Result<(), sqlx::Error> {
        let rows = sqlx::query(
            "SELECT order_id, customer_id, status, currency, channel, shipping_address, paid_minor, refunded_minor, carrier, \
                    tracking_number, cancellation_reason, rejection_reason, created_at, \
                    submitted_at, confirmed_at, paid_at, shipped_at, delivered_at, cancelled_at, \
                    rejected_at, updated_at, stream_version, last_position, line_count, \
                    item_count, total_minor, draft_lines \
             FROM orders WHERE order_id = ANY($1)",
        )
        .bind(orders)
        .persistent(false)
        .fetch_all(conn)
        .await?;
        for r in rows {
            let status: String = r.try_get("status")?;
            let lines: serde_json::Value = r.try_get("draft_lines")?;
            let channel: String = r.try_get("channel")?;
            let address: Option<serde_json::Value> = r.try_get("shipping_address")?;
            self.rows.insert(
                r.try_get("order_id")?,
                OrderRow {
                    customer_id: r.try_get("customer_id")?,
                    status: status_from(&status),
                    currency: r.try_get("currency")?,
                    channel: Channel::from_name(&channel).unwrap_or_default(),
                    shipping_address: address
                        .map(serde_json::from_value)
                        .transpose()
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    paid_minor: r.try_get("paid_minor")?,
                    refunded_minor: r.try_get("refunded_minor")?,
                    carrier: r.try_get("carrier")?,
                    tracking_number: r.try_get("tracking_number")?,
                    cancellation_reason: r.try_get("cancellation_reason")?,
                    rejection_reason: r.try_get("rejection_reason")?,
                    created_at: r.try_get("created_at")?,
                    submitted_at: r.try_get("submitted_at")?,
                    confirmed_at: r.try_get("confirmed_at")?,
                    paid_at: r.try_get("paid_at")?,
                    shipped_at: r.try_get("shipped_at")?,
                    delivered_at: r.try_get("delivered_at")?,
                    cancelled_at: r.try_get("cancelled_at")?,
                    rejected_at: r.try_get("rejected_at")?,
                    updated_at: r.try_get("updated_at")?,
                    stream_version: r.try_get("stream_version")?,
                    last_position: {
                        let p: String = r.try_get("last_position")?;
                        p.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?
                    },
                    line_count: r.try_get("line_count")?,
                    item_count: r.try_get("item_count")?,
                    total_minor: r.try_get("total_minor")?,
                    lines: serde_json::from_value(lines)
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                },
            );
        }
        Ok(())
    }

    fn is_cached(&self, order: &Uuid) -> bool {
        self.rows.contains_key(order)
    }

    fn apply(&mut self, e: &Decoded) -> Result<(), FoldError> {
        if let OrderEvent::OrderCreated(c) = &e.event {
            self.rows.insert(
                e.order_id,
                OrderRow {
                    customer_id: c.customer_id.as_str().to_owned(),
                    status: OrderStatus::Draft,
                    currency: c.currency.as_str().to_owned(),
                    channel: c.channel,
                    shipping_address: None,
                    paid_minor: 0,
                    refunded_minor: 0,
                    carrier: None,
                    tracking_number: None,
                    cancellation_reason: None,
                    rejection_reason: None,
                    created_at: c.at,
                    submitted_at: None,
                    confirmed_at: None,
                    paid_at: None,
                    shipped_at: None,
                    delivered_at: None,
                    cancelled_at: None,
                    rejected_at: None,
                    updated_at: c.at,
                    stream_version: 0,
                    last_position: Position::START,
                    line_count: 0,
                    item_count: 0,
                    total_minor: 0,
                    lines: Vec::new(),
                },
            );
        }
        let row = self
            .rows
            .get_mut(&e.order_id)
            .ok_or_else(|| unknown_order(e))?;
        if apply_line_event(&mut row.lines, &e.event, true)? {
            row.line_count =
                i32::try_from(row.lines.len()).map_err(|_| overflow(e, "line_count"))?;
            row.item_count = units(&row.lines)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| overflow(e, "item_count"))?;
            row.total_minor = total_minor(&row.lines)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| overflow(e, "total_minor"))?;
        } else {
            match &e.event {
                OrderEvent::OrderCreated(_) => {}
                OrderEvent::ShippingAddressSet(s) => {
                    row.shipping_address = Some(s.address.clone());
                }
                OrderEvent::ItemAdded(_)
                | OrderEvent::ItemQuantityChanged(_)
                | OrderEvent::ItemRemoved(_) => {}
                OrderEvent::OrderSubmitted(s) => {
                    // The lines are fixed from here on; the counts stay.
                    row.lines = Vec::new();
                    row.status = OrderStatus::Submitted;
                    row.submitted_at = Some(s.at);
                }
                OrderEvent::OrderConfirmed(s) => {
                    row.status = OrderStatus::Confirmed;
                    row.confirmed_at = Some(s.at);
                }
                OrderEvent::OrderRejected(s) => {
                    row.status = OrderStatus::Rejected;
                    row.rejection_reason = Some(s.reason.clone());
                    row.rejected_at = Some(s.at);
                }
                OrderEvent::PaymentRecorded(s) => {
                    row.status = OrderStatus::Paid;
                    row.paid_minor = row
                        .paid_minor
                        .checked_add(s.amount.amount_minor)
                        .ok_or_else(|| overflow(e, "paid_minor"))?;
                    row.paid_at = Some(s.at);
                }
                OrderEvent::OrderShipped(s) => {
                    row.status = OrderStatus::Shipped;
                    row.carrier = Some(s.carrier.clone());
                    row.tracking_number = Some(s.tracking_number.clone());
                    row.shipped_at = Some(s.at);
                }
                OrderEvent::OrderDelivered(s) => {
                    row.status = OrderStatus::Delivered;
                    row.delivered_at = Some(s.at);
                }
                OrderEvent::OrderCancelled(s) => {
                    row.lines = Vec::new();
                    row.status = OrderStatus::Cancelled;
                    row.cancellation_reason = Some(s.reason.clone());
                    row.cancelled_at = Some(s.at);
                }
                OrderEvent::RefundIssued(s) => {
                    row.refunded_minor = row
                        .refunded_minor
                        .checked_add(s.amount.amount_minor)
                        .ok_or_else(|| overflow(e, "refunded_minor"))?;
                }
            }
        }
        row.updated_at = e.at();
        row.stream_version = i64::try_from(e.stream_version).unwrap_or(i64::MAX);
        row.last_position = e.position;
        self.dirty.insert(e.order_id);
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let n = self.dirty.len();
        let mut c = Columns::with_capacity(n);
        for id in self.dirty.drain() {
            let Some(r) = self.rows.get(&id) else {
                continue;
            };
            c.push(id, r);
        }
        sqlx::query(
            "INSERT INTO orders (order_id, customer_id, status, currency, channel, shipping_address, \
                 line_count, item_count, total_minor, paid_minor, refunded_minor, carrier, tracking_number, \
                 cancellation_reason, rejection_reason, created_at, submitted_at, confirmed_at, \
                 paid_at, shipped_at, delivered_at, cancelled_at, rejected_at, updated_at, \
                 stream_version, last_position, draft_lines) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $26::text[], \
                 $27::jsonb[], $5::int4[], \
                 $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::text[], $11::text[], \
                 $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[], \
                 $16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], \
                 $20::timestamptz[], $21::timestamptz[], $22::timestamptz[], $23::int8[], \
                 $24::text[], $25::jsonb[]) \
             ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id, \
                 status = excluded.status, currency = excluded.currency, \
                 channel = excluded.channel, shipping_address = excluded.shipping_address, \
                 line_count = excluded.line_count, item_count = excluded.item_count, \
                 total_minor = excluded.total_minor, paid_minor = excluded.paid_minor, \
                 refunded_minor = excluded.refunded_minor, carrier = excluded.carrier, \
                 tracking_number = excluded.tracking_number, \
                 cancellation_reason = excluded.cancellation_reason, \
                 rejection_reason = excluded.rejection_reason, created_at = excluded.created_at, \
                 submitted_at = excluded.submitted_at, confirmed_at = excluded.confirmed_at, \
                 paid_at = excluded.paid_at, shipped_at = excluded.shipped_at, \
                 delivered_at = excluded.delivered_at, cancelled_at = excluded.cancelled_at, \
                 rejected_at = excluded.rejected_at, updated_at = excluded.updated_at, \
                 stream_version = excluded.stream_version, \
                 last_position = excluded.last_position, draft_lines = excluded.draft_lines",
        )
        .bind(c.order_id)
        .bind(c.customer_id)
        .bind(c.status)
        .bind(c.currency)
        .bind(c.line_count)
        .bind(c.item_count)
        .bind(c.total_minor)
        .bind(c.paid_minor)
        .bind(c.refunded_minor)
        .bind(c.carrier)
        .bind(c.tracking_number)
        .bind(c.cancellation_reason)
        .bind(c.rejection_reason)
        .bind(c.created_at)
        .bind(c.submitted_at)
        .bind(c.confirmed_at)
        .bind(c.paid_at)
        .bind(c.shipped_at)
        .bind(c.delivered_at)
        .bind(c.cancelled_at)
        .bind(c.rejected_at)
        .bind(c.updated_at)
        .bind(c.stream_version)
        .bind(c.last_position)
        .bind(c.lines)
        .bind(c.channel)
        .bind(c.shipping_address)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn copy_into_empty(
        &mut self,
        conn: &mut PgConnection,
        rows: usize,
    ) -> Result<(), sqlx::Error> {
        let mut b = CopyBuf::new(
            "COPY orders (order_id, customer_id, status, currency, channel, shipping_address, \
                 line_count, item_count, \
                 total_minor, paid_minor, refunded_minor, carrier, tracking_number, \
                 cancellation_reason, rejection_reason, created_at, submitted_at, confirmed_at, \
                 paid_at, shipped_at, delivered_at, cancelled_at, rejected_at, updated_at, \
                 stream_version, last_position, draft_lines) FROM STDIN",
            rows,
        );
        for id in self.dirty.drain() {
            let Some(r) = self.rows.get(&id) else {
                continue;
            };
            b.uuid(&id)
                .text(&r.customer_id)
                .text(r.status.as_str())
                .text(&r.currency)
                .text(r.channel.as_str())
                .opt_text(address_json(r).as_deref())
                .int(i64::from(r.line_count))
                .int(r.item_count)
                .int(r.total_minor)
                .int(r.paid_minor)
                .int(r.refunded_minor)
                .opt_text(r.carrier.as_deref())
                .opt_text(r.tracking_number.as_deref())
                .opt_text(r.cancellation_reason.as_deref())
                .opt_text(r.rejection_reason.as_deref())
                .ts(r.created_at)
                .opt_ts(r.submitted_at)
                .opt_ts(r.confirmed_at)
                .opt_ts(r.paid_at)
                .opt_ts(r.shipped_at)
                .opt_ts(r.delivered_at)
                .opt_ts(r.cancelled_at)
                .opt_ts(r.rejected_at)
                .ts(r.updated_at)
                .int(r.stream_version)
                .text(&r.last_position.to_string())
                .text(&serde_json::to_string(&r.lines).unwrap_or_else(|_| "[]".into()))
                .end_row();
            b.send_full(&mut *conn).await?;
        }
        b.finish(conn).await
    }

    fn cached(&self) -> usize {
        self.rows.len()
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.dirty.clear();
    }
}

/// The address as JSON text for COPY.
fn address_json(r: &OrderRow) -> Option<String> {
    r.shipping_address
        .as_ref()
        .and_then(|a| serde_json::to_string(a).ok())
}

/// Column arrays for the multi-row upsert.
#[derive(Default)]
struct Columns {
    order_id: Vec<Uuid>,
    customer_id: Vec<String>,
    status: Vec<&'static str>,
    currency: Vec<String>,
    channel: Vec<&'static str>,
    shipping_address: Vec<Option<serde_json::Value>>,
    line_count: Vec<i32>,
    item_count: Vec<i64>,
    total_minor: Vec<i64>,
    paid_minor: Vec<i64>,
    refunded_minor: Vec<i64>,
    carrier: Vec<Option<String>>,
    tracking_number: Vec<Option<String>>,
    cancellation_reason: Vec<Option<String>>,
    rejection_reason: Vec<Option<String>>,
    created_at: Vec<DateTime<Utc>>,
    submitted_at: Vec<Option<DateTime<Utc>>>,
    confirmed_at: Vec<Option<DateTime<Utc>>>,
    paid_at: Vec<Option<DateTime<Utc>>>,
    shipped_at: Vec<Option<DateTime<Utc>>>,
    delivered_at: Vec<Option<DateTime<Utc>>>,
    cancelled_at: Vec<Option<DateTime<Utc>>>,
    rejected_at: Vec<Option<DateTime<Utc>>>,
    updated_at: Vec<DateTime<Utc>>,
    stream_version: Vec<i64>,
    last_position: Vec<String>,
    lines: Vec<serde_json::Value>,
}

impl Columns {
    fn with_capacity(_n: usize) -> Columns {
        Columns::default()
    }

    fn push(&mut self, id: Uuid, r: &OrderRow) {
        self.order_id.push(id);
        self.customer_id.push(r.customer_id.clone());
        self.status.push(r.status.as_str());
        self.currency.push(r.currency.clone());
        self.channel.push(r.channel.as_str());
        self.shipping_address.push(
            r.shipping_address
                .as_ref()
                .and_then(|a| serde_json::to_value(a).ok()),
        );
        self.line_count.push(r.line_count);
        self.item_count.push(r.item_count);
        self.total_minor.push(r.total_minor);
        self.paid_minor.push(r.paid_minor);
        self.refunded_minor.push(r.refunded_minor);
        self.carrier.push(r.carrier.clone());
        self.tracking_number.push(r.tracking_number.clone());
        self.cancellation_reason.push(r.cancellation_reason.clone());
        self.rejection_reason.push(r.rejection_reason.clone());
        self.created_at.push(r.created_at);
        self.submitted_at.push(r.submitted_at);
        self.confirmed_at.push(r.confirmed_at);
        self.paid_at.push(r.paid_at);
        self.shipped_at.push(r.shipped_at);
        self.delivered_at.push(r.delivered_at);
        self.cancelled_at.push(r.cancelled_at);
        self.rejected_at.push(r.rejected_at);
        self.updated_at.push(r.updated_at);
        self.stream_version.push(r.stream_version);
        self.last_position.push(r.last_position.to_string());
        self.lines
            .push(serde_json::to_value(&r.lines).unwrap_or(serde_json::Value::Null));
    }
}
