//! Per-order state a fold keeps for itself (which customer, which lines…)
//! in its own table `<table>(order_id uuid primary key, state text)`, so it
//! never reads another projection's tables. The state is JSON kept as text:
//! only the fold reads it, and text is much cheaper to write than jsonb.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// The two statements for one state table; literals so queries stay static.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateSql {
    pub select: &'static str,
    pub upsert: &'static str,
    pub copy: &'static str,
    pub delete: &'static str,
}

macro_rules! state_sql {
    ($table:literal) => {
        $crate::fold::private::StateSql {
            select: concat!(
                "SELECT order_id, state FROM ",
                $table,
                " WHERE order_id = ANY($1)"
            ),
            upsert: concat!(
                "INSERT INTO ",
                $table,
                " (order_id, state) SELECT * FROM unnest($1::uuid[], $2::text[]) \
                 ON CONFLICT (order_id) DO UPDATE SET state = excluded.state"
            ),
            copy: concat!("COPY ", $table, " (order_id, state) FROM STDIN"),
            delete: concat!("DELETE FROM ", $table, " WHERE order_id = ANY($1)"),
        }
    };
}
pub(crate) use state_sql;

#[derive(Debug)]
pub(crate) struct States<S> {
    sql: StateSql,
    pub map: HashMap<Uuid, S>,
    dirty: HashSet<Uuid>,
    removed: HashSet<Uuid>,
}

impl<S: Serialize + DeserializeOwned> States<S> {
    pub fn new(sql: StateSql) -> Self {
        States {
            sql,
            map: HashMap::new(),
            dirty: HashSet::new(),
            removed: HashSet::new(),
        }
    }

    pub async fn load(
        &mut self,
        conn: &mut PgConnection,
        orders: &[Uuid],
    ) -> Result<(), sqlx::Error> {
        let rows = sqlx::query(self.sql.select)
            .bind(orders)
            .persistent(false)
            .fetch_all(conn)
            .await?;
        for r in rows {
            let state: String = r.try_get("state")?;
            let state =
                serde_json::from_str(&state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            self.map.insert(r.try_get("order_id")?, state);
        }
        Ok(())
    }

    pub fn get_mut(&mut self, order: &Uuid) -> Option<&mut S> {
        let s = self.map.get_mut(order)?;
        self.dirty.insert(*order);
        Some(s)
    }

    /// Forgets an order for good (its row is deleted on the next flush).
    pub fn remove(&mut self, order: &Uuid) -> Option<S> {
        let s = self.map.remove(order)?;
        self.dirty.remove(order);
        self.removed.insert(*order);
        Some(s)
    }

    pub fn insert(&mut self, order: Uuid, state: S) {
        self.map.insert(order, state);
        self.dirty.insert(order);
    }

    pub async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.removed.is_empty() {
            let removed: Vec<Uuid> = self.removed.drain().collect();
            sqlx::query(self.sql.delete)
                .bind(removed)
                .persistent(false)
                .execute(&mut *conn)
                .await?;
        }
        if self.dirty.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(self.dirty.len());
        let mut states = Vec::with_capacity(self.dirty.len());
        for id in self.dirty.drain() {
            if let Some(s) = self.map.get(&id) {
                ids.push(id);
                states.push(serde_json::to_string(s).unwrap_or_else(|_| "null".into()));
            }
        }
        sqlx::query(self.sql.upsert)
            .bind(ids)
            .bind(states)
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn copy_into_empty(
        &mut self,
        conn: &mut PgConnection,
        rows: usize,
    ) -> Result<(), sqlx::Error> {
        self.removed.clear();
        let mut buf = super::copy::CopyBuf::new(self.sql.copy, rows);
        for id in self.dirty.drain() {
            if let Some(s) = self.map.get(&id) {
                buf.uuid(&id)
                    .text(&serde_json::to_string(s).unwrap_or_else(|_| "null".into()))
                    .end_row();
                buf.send_full(&mut *conn).await?;
            }
        }
        buf.finish(conn).await
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.dirty.clear();
        self.removed.clear();
    }
}
