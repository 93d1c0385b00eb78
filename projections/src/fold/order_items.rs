//! `order_items`: one row per order line.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_domain::{Currency, OrderEvent};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::copy::CopyBuf;
use super::{Fold, ProjectionDef, overflow, unknown_order};
use crate::decode::Decoded;
use crate::error::FoldError;

pub(super) const DEF: ProjectionDef = ProjectionDef {
    name: "order_items",
    version: 1,
    tables: &["order_items"],
    ddl: "CREATE TABLE order_items (
        order_id          uuid        NOT NULL,
        sku               text        NOT NULL,
        name              text        NOT NULL,
        quantity          bigint      NOT NULL,
        unit_price_minor  bigint      NOT NULL,
        currency          text        NOT NULL,
        line_total_minor  bigint      NOT NULL,
        -- Position of the line in the order (first added = 0).
        line_no           int         NOT NULL,
        added_at          timestamptz NOT NULL,
        updated_at        timestamptz NOT NULL,
        PRIMARY KEY (order_id, sku)
    );",
    indexes: "CREATE INDEX order_items_sku ON order_items (sku);",
    new_fold: || Box::new(ItemsFold::default()),
};

#[derive(Debug, Clone)]
struct Item {
    sku: String,
    name: String,
    quantity: i64,
    unit_price_minor: i64,
    /// Checked when the line changes, so a line beyond `i64` is a fold
    /// error in the live fold and a rebuild alike.
    line_total_minor: i64,
    currency: Currency,
    added_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn line_total(e: &Decoded, quantity: i64, unit_price: i64) -> Result<i64, FoldError> {
    quantity
        .checked_mul(unit_price)
        .ok_or_else(|| overflow(e, "line_total_minor"))
}

/// Lines per order; an order's entry exists once it is known (created).
#[derive(Debug, Default)]
struct ItemsFold {
    orders: HashMap<Uuid, Vec<Item>>,
    dirty: HashSet<Uuid>,
}

#[async_trait]
impl Fold for ItemsFold {
    async fn load(&mut self, conn: &mut PgConnection, orders: &[Uuid]) -> Result<(), sqlx::Error> {
        let rows = sqlx::query(
            "SELECT order_id, sku, name, quantity, unit_price_minor, line_total_minor, currency, \
                    added_at, \
                    updated_at \
             FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, line_no",
        )
        .bind(orders)
        .persistent(false)
        .fetch_all(conn)
        .await?;
        for r in rows {
            self.orders
                .entry(r.try_get("order_id")?)
                .or_default()
                .push(Item {
                    sku: r.try_get("sku")?,
                    name: r.try_get("name")?,
                    quantity: r.try_get("quantity")?,
                    unit_price_minor: r.try_get("unit_price_minor")?,
                    line_total_minor: r.try_get("line_total_minor")?,
                    currency: {
                        let c: String = r.try_get("currency")?;
                        c.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?
                    },
                    added_at: r.try_get("added_at")?,
                    updated_at: r.try_get("updated_at")?,
                });
        }
        // Orders without stored lines are known to have none.
        for id in orders {
            self.orders.entry(*id).or_default();
        }
        Ok(())
    }

    fn is_cached(&self, order: &Uuid) -> bool {
        self.orders.contains_key(order)
    }

    fn apply(&mut self, e: &Decoded) -> Result<(), FoldError> {
        // Orders without lines have no rows; an order whose lines were not
        // found simply starts empty, so anything but a line event is a no-op.
        let at = e.at();
        match &e.event {
            OrderEvent::OrderCreated(_) => {
                self.orders.entry(e.order_id).or_default();
            }
            OrderEvent::ItemAdded(a) => {
                let items = self.orders.entry(e.order_id).or_default();
                match items.iter_mut().find(|i| i.sku == a.sku.as_str()) {
                    Some(i) => {
                        i.quantity = i
                            .quantity
                            .checked_add(i64::from(a.quantity))
                            .ok_or_else(|| overflow(e, "quantity"))?;
                        i.line_total_minor = line_total(e, i.quantity, i.unit_price_minor)?;
                        i.updated_at = at;
                    }
                    None => items.push(Item {
                        sku: a.sku.as_str().to_owned(),
                        name: a.name.clone(),
                        quantity: i64::from(a.quantity),
                        unit_price_minor: a.unit_price.amount_minor,
                        line_total_minor: line_total(
                            e,
                            i64::from(a.quantity),
                            a.unit_price.amount_minor,
                        )?,
                        currency: a.unit_price.currency,
                        added_at: at,
                        updated_at: at,
                    }),
                }
                self.dirty.insert(e.order_id);
            }
            OrderEvent::ItemQuantityChanged(c) => {
                let items = self
                    .orders
                    .get_mut(&e.order_id)
                    .ok_or_else(|| unknown_order(e))?;
                if let Some(i) = items.iter_mut().find(|i| i.sku == c.sku.as_str()) {
                    i.quantity = i64::from(c.quantity);
                    i.line_total_minor = line_total(e, i.quantity, i.unit_price_minor)?;
                    i.updated_at = at;
                }
                self.dirty.insert(e.order_id);
            }
            OrderEvent::ItemRemoved(r) => {
                let items = self
                    .orders
                    .get_mut(&e.order_id)
                    .ok_or_else(|| unknown_order(e))?;
                items.retain(|i| i.sku != r.sku.as_str());
                self.dirty.insert(e.order_id);
            }
            _ => {}
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let dirty: Vec<Uuid> = self.dirty.drain().collect();
        // Replace each changed order's lines: removals need no bookkeeping.
        sqlx::query("DELETE FROM order_items WHERE order_id = ANY($1)")
            .bind(&dirty)
            .persistent(false)
            .execute(&mut *conn)
            .await?;
        let mut order_id = Vec::new();
        let mut sku = Vec::new();
        let mut name = Vec::new();
        let mut quantity = Vec::new();
        let mut price = Vec::new();
        let mut currency = Vec::new();
        let mut total = Vec::new();
        let mut line_no = Vec::new();
        let mut added = Vec::new();
        let mut updated = Vec::new();
        for id in &dirty {
            for (n, i) in self.orders.get(id).into_iter().flatten().enumerate() {
                order_id.push(*id);
                sku.push(i.sku.clone());
                name.push(i.name.clone());
                quantity.push(i.quantity);
                price.push(i.unit_price_minor);
                currency.push(i.currency.as_str().to_owned());
                total.push(i.line_total_minor);
                line_no.push(i32::try_from(n).unwrap_or(i32::MAX));
                added.push(i.added_at);
                updated.push(i.updated_at);
            }
        }
        if order_id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO order_items (order_id, sku, name, quantity, unit_price_minor, currency, \
                 line_total_minor, line_no, added_at, updated_at) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::int8[], \
                 $6::text[], $7::int8[], $8::int4[], $9::timestamptz[], $10::timestamptz[])",
        )
        .bind(order_id)
        .bind(sku)
        .bind(name)
        .bind(quantity)
        .bind(price)
        .bind(currency)
        .bind(total)
        .bind(line_no)
        .bind(added)
        .bind(updated)
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
            "COPY order_items (order_id, sku, name, quantity, unit_price_minor, currency, \
                 line_total_minor, line_no, added_at, updated_at) FROM STDIN",
            rows,
        );
        for id in self.dirty.drain() {
            for (n, i) in self.orders.get(&id).into_iter().flatten().enumerate() {
                b.uuid(&id)
                    .text(&i.sku)
                    .text(&i.name)
                    .int(i.quantity)
                    .int(i.unit_price_minor)
                    .text(i.currency.as_str())
                    .int(i.line_total_minor)
                    .int(n as i64)
                    .ts(i.added_at)
                    .ts(i.updated_at)
                    .end_row();
                b.send_full(&mut *conn).await?;
            }
        }
        b.finish(conn).await
    }

    fn cached(&self) -> usize {
        self.orders.len()
    }

    fn clear(&mut self) {
        self.orders.clear();
        self.dirty.clear();
    }
}
