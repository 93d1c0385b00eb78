//! `stock_levels`: one row per sku with stock: units on hand, reserved and
//! available, open reservations, and the last change (event type, domain
//! time, stream version, position). Folded from the `product-<sku>`
//! streams; the events carry every quantity, so no per-order state is kept.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_domain::InventoryEvent;
use orderflow_event_store::Position;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::copy::CopyBuf;
use super::{Fold, ProjectionDef};
use crate::decode::{Decoded, StockDecoded};
use crate::error::FoldError;

pub(super) const DEF: ProjectionDef = ProjectionDef {
    name: "stock_levels",
    version: 1,
    tables: &["stock_levels"],
    ddl: "CREATE TABLE stock_levels (
        sku                text PRIMARY KEY,
        on_hand            bigint NOT NULL,
        reserved           bigint NOT NULL,
        available          bigint NOT NULL,
        open_reservations  bigint NOT NULL,
        last_change        text NOT NULL,
        updated_at         timestamptz NOT NULL,
        stream_version     bigint NOT NULL,
        last_position      text NOT NULL
    );",
    // For low-stock queries: skus by what is left.
    indexes: "CREATE INDEX stock_levels_available ON stock_levels (available, sku);",
    new_fold: || Box::new(StockFold::default()),
};

#[derive(Debug, Clone)]
struct StockRow {
    on_hand: i64,
    reserved: i64,
    open_reservations: i64,
    last_change: &'static str,
    updated_at: DateTime<Utc>,
    stream_version: i64,
    last_position: Position,
}

impl StockRow {
    fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

#[derive(Debug, Default)]
struct StockFold {
    rows: HashMap<String, StockRow>,
    dirty: HashSet<String>,
}

/// `a + b`, refused (a poison event) below zero or past `i64`: the
/// decider never lets stock go negative, so such an event is corrupt.
fn checked(e: &StockDecoded, what: &str, a: i64, b: i64) -> Result<i64, FoldError> {
    a.checked_add(b).filter(|n| *n >= 0).ok_or_else(|| {
        FoldError(format!(
            "{} for sku {} takes {what} from {a} by {b}, out of range",
            e.event.event_type(),
            e.sku
        ))
    })
}

#[async_trait]
impl Fold for StockFold {
    async fn load(&mut self, _: &mut PgConnection, _: &[Uuid]) -> Result<(), sqlx::Error> {
        Ok(())
    }

    fn is_cached(&self, _: &Uuid) -> bool {
        true
    }

    fn apply(&mut self, _: &Decoded) -> Result<(), FoldError> {
        Ok(())
    }

    async fn load_stock(
        &mut self,
        conn: &mut PgConnection,
        skus: &[String],
    ) -> Result<(), sqlx::Error> {
        let rows = sqlx::query(
            "SELECT sku, on_hand, reserved, open_reservations, last_change, updated_at, \
                    stream_version, last_position \
             FROM stock_levels WHERE sku = ANY($1)",
        )
        .bind(skus)
        .persistent(false)
        .fetch_all(conn)
        .await?;
        for r in rows {
            let last_change: String = r.try_get("last_change")?;
            let position: String = r.try_get("last_position")?;
            self.rows.insert(
                r.try_get("sku")?,
                StockRow {
                    on_hand: r.try_get("on_hand")?,
                    reserved: r.try_get("reserved")?,
                    open_reservations: r.try_get("open_reservations")?,
                    last_change: event_type_named(&last_change),
                    updated_at: r.try_get("updated_at")?,
                    stream_version: r.try_get("stream_version")?,
                    last_position: position
                        .parse()
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                },
            );
        }
        Ok(())
    }

    fn is_stock_cached(&self, sku: &str) -> bool {
        self.rows.contains_key(sku)
    }

    fn apply_stock(&mut self, e: &StockDecoded) -> Result<(), FoldError> {
        let row = self.rows.entry(e.sku.clone()).or_insert(StockRow {
            on_hand: 0,
            reserved: 0,
            open_reservations: 0,
            last_change: "",
            updated_at: e.event.at(),
            stream_version: 0,
            last_position: Position::START,
        });
        match &e.event {
            InventoryEvent::StockReceived(r) => {
                row.on_hand = checked(e, "on_hand", row.on_hand, i64::from(r.quantity))?;
            }
            InventoryEvent::StockAdjusted(a) => row.on_hand = i64::from(a.on_hand),
            InventoryEvent::StockReserved(r) => {
                row.reserved = checked(e, "reserved", row.reserved, i64::from(r.quantity))?;
                row.open_reservations = checked(e, "open_reservations", row.open_reservations, 1)?;
            }
            InventoryEvent::StockReleased(r) => {
                row.reserved = checked(e, "reserved", row.reserved, -i64::from(r.quantity))?;
                row.open_reservations = checked(e, "open_reservations", row.open_reservations, -1)?;
            }
            InventoryEvent::ReservationCommitted(c) => {
                row.reserved = checked(e, "reserved", row.reserved, -i64::from(c.quantity))?;
                row.on_hand = checked(e, "on_hand", row.on_hand, -i64::from(c.quantity))?;
                row.open_reservations = checked(e, "open_reservations", row.open_reservations, -1)?;
            }
        }
        if row.available() < 0 {
            return Err(FoldError(format!(
                "{} for sku {} leaves {} on hand below {} reserved",
                e.event.event_type(),
                e.sku,
                row.on_hand,
                row.reserved
            )));
        }
        row.last_change = e.event.event_type();
        row.updated_at = e.event.at();
        row.stream_version = i64::try_from(e.stream_version)
            .map_err(|_| FoldError(format!("stream version of sku {} overflows", e.sku)))?;
        row.last_position = e.position;
        self.dirty.insert(e.sku.clone());
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let mut c = Columns::default();
        for sku in self.dirty.drain() {
            if let Some(r) = self.rows.get(&sku) {
                c.push(sku, r);
            }
        }
        sqlx::query(
            "INSERT INTO stock_levels AS t (sku, on_hand, reserved, available, \
                 open_reservations, last_change, updated_at, stream_version, last_position) \
             SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], \
                 $6::text[], $7::timestamptz[], $8::int8[], $9::text[]) \
             ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand, \
                 reserved = excluded.reserved, available = excluded.available, \
                 open_reservations = excluded.open_reservations, \
                 last_change = excluded.last_change, updated_at = excluded.updated_at, \
                 stream_version = excluded.stream_version, \
                 last_position = excluded.last_position",
        )
        .bind(c.sku)
        .bind(c.on_hand)
        .bind(c.reserved)
        .bind(c.available)
        .bind(c.open_reservations)
        .bind(c.last_change)
        .bind(c.updated_at)
        .bind(c.stream_version)
        .bind(c.last_position)
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
            "COPY stock_levels (sku, on_hand, reserved, available, open_reservations, \
                 last_change, updated_at, stream_version, last_position) FROM STDIN",
            rows,
        );
        for sku in self.dirty.drain() {
            let Some(r) = self.rows.get(&sku) else {
                continue;
            };
            b.text(&sku)
                .int(r.on_hand)
                .int(r.reserved)
                .int(r.available())
                .int(r.open_reservations)
                .text(r.last_change)
                .ts(r.updated_at)
                .int(r.stream_version)
                .text(&r.last_position.to_string())
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

/// The stored event type as the static name the row keeps (a name this
/// code does not know stays empty until the sku's next change).
fn event_type_named(name: &str) -> &'static str {
    orderflow_domain::inventory::EVENT_TYPES
        .iter()
        .copied()
        .find(|t| *t == name)
        .unwrap_or("")
}

/// The rows of one upsert, column by column.
#[derive(Default)]
struct Columns {
    sku: Vec<String>,
    on_hand: Vec<i64>,
    reserved: Vec<i64>,
    available: Vec<i64>,
    open_reservations: Vec<i64>,
    last_change: Vec<&'static str>,
    updated_at: Vec<DateTime<Utc>>,
    stream_version: Vec<i64>,
    last_position: Vec<String>,
}

impl Columns {
    fn push(&mut self, sku: String, r: &StockRow) {
        self.sku.push(sku);
        self.on_hand.push(r.on_hand);
        self.reserved.push(r.reserved);
        self.available.push(r.available());
        self.open_reservations.push(r.open_reservations);
        self.last_change.push(r.last_change);
        self.updated_at.push(r.updated_at);
        self.stream_version.push(r.stream_version);
        self.last_position.push(r.last_position.to_string());
    }
}
