//! A projection as a subscriber of the runtime: each batch is decoded,
//! folded in memory, and its changed rows written through the runtime's
//! transaction (which also moves the checkpoint). A new version rebuilds
//! the tables from zero.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use orderflow_event_store::{EventStore, Position, RecordedEvent};
use orderflow_subscriptions::{HandleError, Subscriber, SubscriptionError};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ProjectorConfig;
use crate::decode::{Input, decode_any};
use crate::fold::{self, Fold, ProjectionDef};
use crate::notify::publish_changes;
use crate::rebuild::rebuild_defs;

pub(crate) struct ProjectionSubscriber {
    def: &'static ProjectionDef,
    fold: Box<dyn Fold>,
    /// Each order the uncommitted batch changed, with the position of its
    /// own last event in it (what its rows now store, and what its change
    /// notice must carry).
    pending: Vec<(Uuid, Position)>,
    store: Arc<dyn EventStore>,
    nats: Option<async_nats::Client>,
    config: ProjectorConfig,
}

impl ProjectionSubscriber {
    pub fn new(
        def: &'static ProjectionDef,
        store: Arc<dyn EventStore>,
        nats: Option<async_nats::Client>,
        config: ProjectorConfig,
    ) -> ProjectionSubscriber {
        ProjectionSubscriber {
            def,
            fold: (def.new_fold)(),
            pending: Vec::new(),
            store,
            nats,
            config,
        }
    }
}

#[async_trait]
impl Subscriber for ProjectionSubscriber {
    fn name(&self) -> &'static str {
        self.def.name
    }

    fn version(&self) -> i32 {
        self.def.version
    }

    async fn handle(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), HandleError> {
        // Decoded events by kind, and the index in `events` each came from.
        let mut decoded = Vec::with_capacity(events.len());
        let mut source = Vec::with_capacity(events.len());
        let mut stock = Vec::new();
        let mut stock_source = Vec::new();
        for (index, e) in events.iter().enumerate() {
            match decode_any(e) {
                Ok(Some(Input::Order(d))) => {
                    decoded.push(d);
                    source.push(index);
                }
                Ok(Some(Input::Stock(d))) => {
                    stock.push(d);
                    stock_source.push(index);
                }
                Ok(None) => {}
                Err(err) => {
                    return Err(HandleError::Poison {
                        index,
                        message: err.0,
                    });
                }
            }
        }
        if self.fold.cached() > self.config.max_cached_orders {
            self.fold.clear();
        }
        let missing = fold::missing(self.fold.as_ref(), &decoded);
        if !missing.is_empty() {
            self.fold.load(tx, &missing).await?;
        }
        let missing = fold::missing_stock(self.fold.as_ref(), &stock);
        if !missing.is_empty() {
            self.fold.load_stock(tx, &missing).await?;
        }
        // Each fold reads one kind, so the kinds may go one after the
        // other; a poison event of either kind is named by its index.
        for (i, d) in decoded.iter().enumerate() {
            if let Err(e) = self.fold.apply(d) {
                return Err(HandleError::Poison {
                    index: source[i],
                    message: e.0,
                });
            }
        }
        for (i, d) in stock.iter().enumerate() {
            if let Err(e) = self.fold.apply_stock(d) {
                return Err(HandleError::Poison {
                    index: stock_source[i],
                    message: e.0,
                });
            }
        }
        self.fold.flush(tx).await?;
        let mut last_of: HashMap<Uuid, Position> = HashMap::with_capacity(decoded.len());
        for d in &decoded {
            // Store order: the last event seen is the order's newest.
            last_of.insert(d.order_id, d.position);
        }
        self.pending = last_of.into_iter().collect();
        self.pending.sort_unstable_by_key(|(_, p)| *p);
        Ok(())
    }

    fn committed(&mut self, position: Position) {
        let orders = std::mem::take(&mut self.pending);
        if let Some(client) = &self.nats {
            publish_changes(
                client,
                &self.config.subject_prefix,
                self.def.name,
                &orders,
                position,
            );
        }
    }

    fn reset(&mut self) {
        self.fold.clear();
        self.pending.clear();
    }

    /// Builds the tables of this version from the store into a schema of
    /// their own and swaps them in, moving the checkpoint in the swap.
    async fn start_version(&mut self, pool: &PgPool) -> Result<(), SubscriptionError> {
        tracing::info!(
            projection = self.def.name,
            version = self.def.version,
            "building projection from the store"
        );
        let report = rebuild_defs(
            &self.store,
            pool,
            &Default::default(),
            &[self.def],
            &self.config,
            &mut |_| {},
        )
        .await?;
        tracing::info!(
            projection = self.def.name,
            events = report.events,
            seconds = report.seconds,
            "projection built"
        );
        Ok(())
    }
}
