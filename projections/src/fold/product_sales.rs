//! `product_sales`: per sku and currency: units sold, revenue and number of
//! orders, counted when an order is paid. Additive deltas.
//!
//! Version 2: units and revenue are `numeric`, so no number of orders can
//! overflow them; the deltas are `i128` in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use orderflow_domain::{Currency, OrderEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use super::copy::CopyBuf;
use super::private::{States, state_sql};
use super::sales::{SalesInfo, track};
use super::{Fold, ProjectionDef, add_i128};
use crate::decode::Decoded;
use crate::error::FoldError;

pub(super) const DEF: ProjectionDef = ProjectionDef {
    name: "product_sales",
    version: 2,
    tables: &["product_sales", "product_sales_orders"],
    ddl: "CREATE TABLE product_sales (
        sku            text   NOT NULL,
        currency       text   NOT NULL,
        units_sold     numeric NOT NULL,
        revenue_minor  numeric NOT NULL,
        order_count    bigint NOT NULL,
        PRIMARY KEY (sku, currency)
    );
    CREATE TABLE product_sales_orders (order_id uuid PRIMARY KEY, state text NOT NULL);",
    indexes: "",
    new_fold: || Box::new(ProductFold::new()),
};

#[derive(Debug)]
struct ProductFold {
    states: States<SalesInfo>,
    /// Units, revenue, orders.
    deltas: HashMap<(String, Currency), (i128, i128, i64)>,
}

impl ProductFold {
    fn new() -> Self {
        ProductFold {
            states: States::new(state_sql!("product_sales_orders")),
            deltas: HashMap::new(),
        }
    }
}

#[async_trait]
impl Fold for ProductFold {
    async fn load(&mut self, conn: &mut PgConnection, orders: &[Uuid]) -> Result<(), sqlx::Error> {
        self.states.load(conn, orders).await
    }

    fn is_cached(&self, order: &Uuid) -> bool {
        self.states.map.contains_key(order)
    }

    fn apply(&mut self, e: &Decoded) -> Result<(), FoldError> {
        let Some(info) = track(&mut self.states, e)? else {
            return Ok(());
        };
        if let OrderEvent::PaymentRecorded(_) = &e.event {
            for line in info.lines {
                let total = line.total_minor();
                let d = self.deltas.entry((line.sku, info.currency)).or_default();
                d.0 = add_i128(e, "units_sold", d.0, i128::from(line.quantity))?;
                d.1 = add_i128(e, "revenue_minor", d.1, total)?;
                d.2 += 1;
            }
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.states.flush(&mut *conn).await?;
        if self.deltas.is_empty() {
            return Ok(());
        }
        let (mut sku, mut currency, mut units, mut revenue, mut orders) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((s, c), (u, r, o)) in self.deltas.drain() {
            sku.push(s);
            currency.push(c.as_str().to_owned());
            units.push(u.to_string());
            revenue.push(r.to_string());
            orders.push(o);
        }
        sqlx::query(
            "INSERT INTO product_sales AS t (sku, currency, units_sold, revenue_minor, \
                 order_count) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]::numeric[], \
                 $4::text[]::numeric[], $5::int8[]) \
             ON CONFLICT (sku, currency) DO UPDATE SET \
                 units_sold = t.units_sold + excluded.units_sold, \
                 revenue_minor = t.revenue_minor + excluded.revenue_minor, \
                 order_count = t.order_count + excluded.order_count",
        )
        .bind(sku)
        .bind(currency)
        .bind(units)
        .bind(revenue)
        .bind(orders)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn copy_into_empty(
        &mut self,
        conn: &mut PgConnection,
        rows: usize,
    ) -> Result<(), sqlx::Error> {
        self.states.copy_into_empty(&mut *conn, rows).await?;
        let mut b = CopyBuf::new(
            "COPY product_sales (sku, currency, units_sold, revenue_minor, order_count) \
             FROM STDIN",
            rows,
        );
        for ((sku, cur), (u, r, o)) in self.deltas.drain() {
            b.text(&sku)
                .text(cur.as_str())
                .big(u)
                .big(r)
                .int(o)
                .end_row();
            b.send_full(&mut *conn).await?;
        }
        b.finish(conn).await
    }

    fn cached(&self) -> usize {
        self.states.map.len()
    }

    fn clear(&mut self) {
        self.states.clear();
        self.deltas.clear();
    }
}
