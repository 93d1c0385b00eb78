//! `orders`: by id, filtered and keyset-paged, counted.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::{DbResult, ReadDb};

/// The columns every order read selects (not `lines`: items come from
/// `order_items`).
macro_rules! order_columns {
    () => {
        "order_id, customer_id, status, currency, channel, shipping_address, line_count, item_count, total_minor, \
         paid_minor, refunded_minor, carrier, tracking_number, cancellation_reason, \
         rejection_reason, created_at, submitted_at, confirmed_at, paid_at, shipped_at, \
         delivered_at, cancelled_at, rejected_at, updated_at, stream_version, last_position"
    };
}

/// One row of `orders`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub order_id: Uuid,
    pub customer_id: String,
    pub status: String,
    pub currency: String,
    /// `web`, `mobile`, `api` or `unknown`.
    pub channel: String,
    /// The domain's `ShippingAddress` as JSON; null until one is set.
    pub shipping_address: Option<sqlx::types::Json<AddressRow>>,
    pub line_count: i32,
    pub item_count: i64,
    pub total_minor: i64,
    pub paid_minor: i64,
    pub refunded_minor: i64,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub cancellation_reason: Option<String>,
    pub rejection_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub stream_version: i64,
    pub last_position: String,
}

/// The shipping address as the `orders` projection stores it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AddressRow {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

/// Which orders a list shows. Every condition must hold.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Any of these statuses (`draft`, `paid`, …).
    pub statuses: Option<Vec<String>>,
    /// Each of these must equal the customer (more than one only when a
    /// customer's connection is filtered by customer again).
    pub customer_ids: Vec<String>,
    /// Has a line with this sku (from the `order_items` projection).
    pub sku: Option<String>,
    pub currency: Option<String>,
    /// Any of these channels (`web`, `unknown`, …).
    pub channels: Option<Vec<String>>,
    /// Placed at or after.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before.
    pub placed_to: Option<DateTime<Utc>>,
    pub total_min: Option<i64>,
    pub total_max: Option<i64>,
    /// Only these orders (subscriptions match change notices this way).
    pub order_ids: Option<Vec<Uuid>>,
}

impl OrderFilter {
    /// No condition at all (`order_ids` aside).
    pub fn matches_all(&self) -> bool {
        self.statuses.is_none()
            && self.customer_ids.is_empty()
            && self.sku.is_none()
            && self.currency.is_none()
            && self.channels.is_none()
            && self.placed_from.is_none()
            && self.placed_to.is_none()
            && self.total_min.is_none()
            && self.total_max.is_none()
    }

    /// Appends ` WHERE …`. Only fixed SQL text is appended; every value is
    /// a bind parameter.
    fn push_where(&self, q: &mut QueryBuilder<Postgres>) {
        q.push(" WHERE TRUE");
        match self.statuses.as_deref() {
            None => {}
            // Plain equality for one status: before Postgres 17 `= ANY`
            // keeps the (status, created_at) index from giving rows in
            // order, and a page would sort every row of that status.
            Some([one]) => {
                q.push(" AND status = ").push_bind(one.clone());
            }
            Some(many) => {
                q.push(" AND status = ANY(")
                    .push_bind(many.to_vec())
                    .push(")");
            }
        }
        for c in &self.customer_ids {
            q.push(" AND customer_id = ").push_bind(c.clone());
        }
        if let Some(sku) = &self.sku {
            // A semi-join on order_items' sku index.
            q.push(" AND order_id IN (SELECT order_id FROM order_items WHERE sku = ")
                .push_bind(sku.clone())
                .push(")");
        }
        if let Some(c) = &self.currency {
            q.push(" AND currency = ").push_bind(c.clone());
        }
        if let Some(channels) = &self.channels {
            q.push(" AND channel = ANY(")
                .push_bind(channels.clone())
                .push(")");
        }
        if let Some(t) = self.placed_from {
            q.push(" AND created_at >= ").push_bind(t);
        }
        if let Some(t) = self.placed_to {
            q.push(" AND created_at < ").push_bind(t);
        }
        if let Some(n) = self.total_min {
            q.push(" AND total_minor >= ").push_bind(n);
        }
        if let Some(n) = self.total_max {
            q.push(" AND total_minor <= ").push_bind(n);
        }
        if let Some(ids) = &self.order_ids {
            q.push(" AND order_id = ANY(")
                .push_bind(ids.clone())
                .push(")");
        }
    }
}

/// What a list is sorted by; `order_id` breaks ties so the order is total
/// and a cursor names exactly one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    PlacedAt,
    UpdatedAt,
    Total,
}

impl SortKey {
    fn column(self) -> &'static str {
        match self {
            SortKey::PlacedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Total => "total_minor",
        }
    }

    /// This key's value in `row`.
    pub fn value_of(self, row: &OrderRow) -> KeyValue {
        match self {
            SortKey::PlacedAt => KeyValue::Time(row.created_at),
            SortKey::UpdatedAt => KeyValue::Time(row.updated_at),
            SortKey::Total => KeyValue::Int(row.total_minor),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyValue {
    Time(DateTime<Utc>),
    Int(i64),
}

/// A place in a sorted list: the sort key's value and the order id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    pub value: KeyValue,
    pub id: Uuid,
}

/// One page: rows strictly after `after` and strictly before `before` (in
/// the sort order), the first `limit` of them, or the last `limit` when
/// `from_end`. Rows come back in sort order either way.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub filter: OrderFilter,
    pub key: SortKey,
    pub descending: bool,
    pub after: Option<Keyset>,
    pub before: Option<Keyset>,
    pub limit: i64,
    pub from_end: bool,
}

fn push_value(q: &mut QueryBuilder<Postgres>, v: KeyValue) {
    match v {
        KeyValue::Time(t) => q.push_bind(t),
        KeyValue::Int(n) => q.push_bind(n),
    };
}

/// `(col, order_id) > (v, id)` (or `<`), plus the same bound on `col`
/// alone: row comparisons do not match the single-column indexes, the
/// plain one does.
fn push_bound(q: &mut QueryBuilder<Postgres>, col: &'static str, k: Keyset, greater: bool) {
    let (op, weak) = if greater { (">", ">=") } else { ("<", "<=") };
    q.push(" AND ").push(col).push(" ").push(weak).push(" ");
    push_value(q, k.value);
    q.push(" AND (")
        .push(col)
        .push(", order_id) ")
        .push(op)
        .push(" (");
    push_value(q, k.value);
    q.push(", ").push_bind(k.id).push(")");
}

impl ReadDb {
    pub async fn orders_by_ids(&self, ids: &[Uuid]) -> DbResult<Vec<OrderRow>> {
        self.count();
        Ok(sqlx::query_as::<_, OrderRow>(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE order_id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(self.pool())
        .await?)
    }

    /// Orders matching `filter`, unordered and unbounded: only for filters
    /// that name their orders (`order_ids`).
    pub async fn orders_matching(&self, filter: &OrderFilter) -> DbResult<Vec<OrderRow>> {
        self.count();
        let mut q = QueryBuilder::new(concat!("SELECT ", order_columns!(), " FROM orders"));
        filter.push_where(&mut q);
        Ok(q.build_query_as::<OrderRow>()
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn orders_page(&self, p: &PageQuery) -> DbResult<Vec<OrderRow>> {
        self.count();
        let col = p.key.column();
        let mut q = QueryBuilder::new(concat!("SELECT ", order_columns!(), " FROM orders"));
        p.filter.push_where(&mut q);
        if let Some(k) = p.after {
            push_bound(&mut q, col, k, !p.descending);
        }
        if let Some(k) = p.before {
            push_bound(&mut q, col, k, p.descending);
        }
        // Reading from the end: scan the other way, then flip the rows.
        let dir = if p.descending != p.from_end {
            " DESC"
        } else {
            " ASC"
        };
        q.push(" ORDER BY ")
            .push(col)
            .push(dir)
            .push(", order_id")
            .push(dir)
            .push(" LIMIT ")
            .push_bind(p.limit);
        let mut rows = q
            .build_query_as::<OrderRow>()
            .fetch_all(self.pool())
            .await?;
        if p.from_end {
            rows.reverse();
        }
        Ok(rows)
    }

    pub async fn orders_count(&self, filter: &OrderFilter) -> DbResult<i64> {
        self.count();
        let mut q = QueryBuilder::new("SELECT count(*) FROM orders");
        filter.push_where(&mut q);
        Ok(q.build_query_scalar::<i64>().fetch_one(self.pool()).await?)
    }
}
