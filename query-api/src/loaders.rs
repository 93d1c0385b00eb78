//! Batch loading (the DataLoader pattern): every `order(id)`, `items`,
//! `stats` … asked for while a request resolves is collected and loaded
//! with one statement per kind, so a page of 100 orders with their items
//! costs a constant number of statements.
//!
//! Why not async-graphql's `DataLoader`: it closes a batch with a timer
//! (1 ms by default) running on another thread, so a slow resolver pass
//! (a busy machine, a debug build) splits batches, and every lookup pays
//! the timer. Here the first caller of a batch (its leader) yields once:
//! the whole request resolves in one task, so every sibling resolver of the
//! same pass has added its key before the leader runs again and loads
//! them all. Deterministic, and no timer.
//!
//! One set of loaders per request, no cache between requests: nothing
//! served can be older than the request.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::db::{CustomerStatsRow, ItemRow, LifetimeValueRow, OrderRow, ReadDb, StockRow};
use crate::error::DbError;

type Reply<V> = oneshot::Sender<Result<Option<V>, DbError>>;

/// Keys waiting for the next load of one kind.
struct Batch<K, V> {
    pending: Mutex<Vec<(K, Reply<V>)>>,
}

impl<K, V> Default for Batch<K, V> {
    fn default() -> Self {
        Batch {
            pending: Mutex::new(Vec::new()),
        }
    }
}

/// Held by a leader until it has answered: if the leader is dropped first
/// (its request was cancelled), the waiting keys get an error instead of
/// waiting for ever, and the next caller leads a new batch.
struct Leading<'a, K, V> {
    batch: &'a Batch<K, V>,
    done: bool,
}

impl<K, V> Drop for Leading<'_, K, V> {
    fn drop(&mut self) {
        if !self.done {
            self.batch.drain();
        }
    }
}

impl<K, V> Batch<K, V> {
    fn drain(&self) -> Vec<(K, Reply<V>)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl<K: Clone + Eq + Hash, V: Clone> Batch<K, V> {
    async fn load<F, Fut>(&self, key: K, fetch: F) -> Result<Option<V>, DbError>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>, DbError>>,
    {
        let (tx, rx) = oneshot::channel();
        let leader = {
            let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            p.push((key, tx));
            p.len() == 1
        };
        if leader {
            let mut leading = Leading {
                batch: self,
                done: false,
            };
            tokio::task::yield_now().await;
            let waiters = self.drain();
            leading.done = true;
            let mut seen = HashSet::new();
            let keys: Vec<K> = waiters
                .iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .map(|(k, _)| k.clone())
                .collect();
            let result = fetch(keys).await;
            for (k, reply) in waiters {
                let answer = match &result {
                    Ok(found) => Ok(found.get(&k).cloned()),
                    Err(e) => Err(e.clone()),
                };
                let _ = reply.send(answer);
            }
        }
        rx.await.unwrap_or_else(|_| {
            Err(DbError::from(sqlx::Error::Protocol(
                "batch load abandoned".into(),
            )))
        })
    }
}

/// The loaders of one request.
pub struct Loaders {
    db: ReadDb,
    orders: Batch<Uuid, OrderRow>,
    items: Batch<Uuid, Vec<ItemRow>>,
    stats: Batch<String, CustomerStatsRow>,
    values: Batch<String, Vec<LifetimeValueRow>>,
    stock: Batch<String, StockRow>,
}

impl std::fmt::Debug for Loaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaders").finish_non_exhaustive()
    }
}

pub fn loaders(db: &ReadDb) -> Arc<Loaders> {
    Arc::new(Loaders {
        db: db.clone(),
        orders: Batch::default(),
        items: Batch::default(),
        stats: Batch::default(),
        values: Batch::default(),
        stock: Batch::default(),
    })
}

impl Loaders {
    pub async fn order(&self, id: Uuid) -> Result<Option<OrderRow>, DbError> {
        self.orders
            .load(id, |ids| async move {
                let rows = self.db.orders_by_ids(&ids).await?;
                Ok(rows.into_iter().map(|r| (r.order_id, r)).collect())
            })
            .await
    }

    /// The order's lines, in the order they were added (empty if none).
    pub async fn items(&self, order: Uuid) -> Result<Vec<ItemRow>, DbError> {
        self.items
            .load(order, |ids| async move {
                let mut out: HashMap<Uuid, Vec<ItemRow>> = HashMap::new();
                for row in self.db.items_of(&ids).await? {
                    out.entry(row.order_id).or_default().push(row);
                }
                Ok(out)
            })
            .await
            .map(Option::unwrap_or_default)
    }

    pub async fn customer_stats(
        &self,
        customer: &str,
    ) -> Result<Option<CustomerStatsRow>, DbError> {
        self.stats
            .load(customer.to_owned(), |ids| async move {
                let rows = self.db.customer_stats(&ids).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| (r.customer_id.clone(), r))
                    .collect())
            })
            .await
    }

    /// Per currency (empty if nothing was paid).
    pub async fn lifetime_value(&self, customer: &str) -> Result<Vec<LifetimeValueRow>, DbError> {
        self.values
            .load(customer.to_owned(), |ids| async move {
                let mut out: HashMap<String, Vec<LifetimeValueRow>> = HashMap::new();
                for row in self.db.lifetime_values(&ids).await? {
                    out.entry(row.customer_id.clone()).or_default().push(row);
                }
                Ok(out)
            })
            .await
            .map(Option::unwrap_or_default)
    }

    /// The stock of a sku; `None` when it never had any.
    pub async fn stock(&self, sku: &str) -> Result<Option<StockRow>, DbError> {
        self.stock
            .load(sku.to_owned(), |skus| async move {
                let rows = self.db.stock_levels(&skus).await?;
                Ok(rows.into_iter().map(|r| (r.sku.clone(), r)).collect())
            })
            .await
    }
}
