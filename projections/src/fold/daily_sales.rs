//! `daily_sales`: per UTC day (of the domain time) and currency: orders
//! paid, gross, refunds, net and units sold. Additive deltas.
//!
//! Version 2: the sums (money and units) are `numeric`, so no number of
//! orders can overflow them; the deltas are `i128` in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use orderflow_domain::{Currency, OrderEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use super::copy::CopyBuf;
use super::lines::units;
use super::private::{States, state_sql};
use super::sales::{SalesInfo, track};
use super::{Fold, ProjectionDef, add_i128, overflow};
use crate::decode::Decoded;
use crate::error::FoldError;

pub(super) const DEF: ProjectionDef = ProjectionDef {
    name: "daily_sales",
    version: 2,
    tables: &["daily_sales", "daily_sales_orders"],
    ddl: "CREATE TABLE daily_sales (
        day            date   NOT NULL,
        currency       text   NOT NULL,
        orders_paid    bigint NOT NULL,
        gross_minor    numeric NOT NULL,
        refunds_minor  numeric NOT NULL,
        net_minor      numeric GENERATED ALWAYS AS (gross_minor - refunds_minor) STORED,
        units_sold     numeric NOT NULL,
        PRIMARY KEY (day, currency)
    );
    CREATE TABLE daily_sales_orders (order_id uuid PRIMARY KEY, state text NOT NULL);",
    indexes: "",
    new_fold: || Box::new(DailyFold::new()),
};

#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    orders: i64,
    gross: i128,
    refunds: i128,
    units: i128,
}

#[derive(Debug)]
struct DailyFold {
    states: States<SalesInfo>,
    deltas: HashMap<(NaiveDate, Currency), Delta>,
}

impl DailyFold {
    fn new() -> Self {
        DailyFold {
            states: States::new(state_sql!("daily_sales_orders")),
            deltas: HashMap::new(),
        }
    }
}

#[async_trait]
impl Fold for DailyFold {
    async fn load(&mut self, conn: &mut PgConnection, orders: &[Uuid]) -> Result<(), sqlx::Error> {
        self.states.load(conn, orders).await
    }

    fn is_cached(&self, order: &Uuid) -> bool {
        self.states.map.contains_key(order)
    }

    fn apply(&mut self, e: &Decoded) -> Result<(), FoldError> {
        let day = e.at().date_naive();
        match &e.event {
            OrderEvent::PaymentRecorded(p) => {
                let info = track(&mut self.states, e)?;
                let d = self.deltas.entry((day, p.amount.currency)).or_default();
                let sold = match info {
                    Some(i) => units(&i.lines).ok_or_else(|| overflow(e, "units_sold"))?,
                    None => 0,
                };
                d.orders += 1;
                d.gross = add_i128(e, "gross_minor", d.gross, i128::from(p.amount.amount_minor))?;
                d.units = add_i128(e, "units_sold", d.units, sold)?;
            }
            // Refunds count on their own day, in their own currency.
            OrderEvent::RefundIssued(r) => {
                let d = self.deltas.entry((day, r.amount.currency)).or_default();
                d.refunds = add_i128(
                    e,
                    "refunds_minor",
                    d.refunds,
                    i128::from(r.amount.amount_minor),
                )?;
            }
            _ => {
                track(&mut self.states, e)?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.states.flush(&mut *conn).await?;
        if self.deltas.is_empty() {
            return Ok(());
        }
        let mut day = Vec::new();
        let mut currency = Vec::new();
        let (mut orders, mut gross, mut refunds, mut units) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((dy, cur), d) in self.deltas.drain() {
            day.push(dy);
            currency.push(cur.as_str().to_owned());
            orders.push(d.orders);
            gross.push(d.gross.to_string());
            refunds.push(d.refunds.to_string());
            units.push(d.units.to_string());
        }
        sqlx::query(
            "INSERT INTO daily_sales AS t (day, currency, orders_paid, gross_minor, \
                 refunds_minor, units_sold) \
             SELECT * FROM unnest($1::date[], $2::text[], $3::int8[], $4::text[]::numeric[], \
                 $5::text[]::numeric[], $6::text[]::numeric[]) \
             ON CONFLICT (day, currency) DO UPDATE SET \
                 orders_paid = t.orders_paid + excluded.orders_paid, \
                 gross_minor = t.gross_minor + excluded.gross_minor, \
                 refunds_minor = t.refunds_minor + excluded.refunds_minor, \
                 units_sold = t.units_sold + excluded.units_sold",
        )
        .bind(day)
        .bind(currency)
        .bind(orders)
        .bind(gross)
        .bind(refunds)
        .bind(units)
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
            "COPY daily_sales (day, currency, orders_paid, gross_minor, refunds_minor, \
                 units_sold) FROM STDIN",
            rows,
        );
        for ((day, cur), d) in self.deltas.drain() {
            b.date(day)
                .text(cur.as_str())
                .int(d.orders)
                .big(d.gross)
                .big(d.refunds)
                .big(d.units)
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
