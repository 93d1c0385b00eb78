//! Subscriptions: the order as it is after each change, fed by the
//! projectors' change notices. Each notice is answered from the read
//! database, and an order is only delivered when its version is newer than
//! the one delivered before, so a subscriber sees versions in order even if
//! notices arrive late, twice or out of order.
//!
//! Access is checked twice: on subscribe (the role may subscribe at all,
//! see `access.rs`) and per notice (a customer's stream only delivers
//! orders of their own customer id, read with the order; notices carry no
//! customer, so a customer following another's order id gets nothing).

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::time::Duration;

use async_graphql::{Context, Subscription};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use orderflow_event_store::Position;
use uuid::Uuid;

use super::filter::OrderFilterInput;
use super::order::Order;
use crate::access::{Scope, guard};
use crate::db::{OrderFilter, OrderRow, ReadDb};
use crate::error::{DbError, ErrorCode};
use crate::notices::OrderNotice;
use crate::services::services;

/// Notices answered with one statement at most.
const BATCH: usize = 100;
/// A replica may apply a commit after its notice arrived: re-read this
/// often, this many times, before delivering what it has.
const CATCH_UP_DELAY: Duration = Duration::from_millis(25);
const CATCH_UP_TRIES: usize = 20;

#[derive(Debug, Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// The order, each time it changes.
    ///
    /// Roles: staff, finance; customer (changes of their own orders only).
    async fn order_changed(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<Order>>> {
        let scope = guard(ctx, "Subscription.orderChanged")?;
        let s = services(ctx)?;
        let notices = s
            .feed
            .order_notices(Some(id))
            .await
            .map_err(|e| ErrorCode::Internal.error(e))?;
        Ok(changed_orders(s.db.clone(), notices, OrderFilter::default(), scope).boxed())
    }

    /// Every order matching `filter` (after the change), each time one
    /// changes.
    ///
    /// Roles: staff, finance.
    async fn orders_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrderFilterInput>,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<Order>>> {
        let scope = guard(ctx, "Subscription.ordersChanged")?;
        let filter = filter.unwrap_or_default().to_db()?;
        let s = services(ctx)?;
        let notices = s
            .feed
            .order_notices(None)
            .await
            .map_err(|e| ErrorCode::Internal.error(e))?;
        Ok(changed_orders(s.db.clone(), notices, filter, scope).boxed())
    }
}

/// Counts open subscriptions for the metrics while alive.
struct Active;

impl Active {
    fn new() -> Active {
        metrics::gauge!("orderflow_query_subscriptions_active").increment(1.0);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        metrics::gauge!("orderflow_query_subscriptions_active").decrement(1.0);
    }
}

type Notices = Pin<Box<dyn Stream<Item = Vec<OrderNotice>> + Send>>;

struct State {
    notices: Notices,
    db: ReadDb,
    filter: OrderFilter,
    /// Whose orders may be delivered, checked on every row read.
    scope: Scope,
    /// Last version delivered per order.
    delivered: HashMap<Uuid, i64>,
    ready: VecDeque<async_graphql::Result<Order>>,
    _active: Active,
}

fn changed_orders(
    db: ReadDb,
    notices: impl Stream<Item = OrderNotice> + Send + 'static,
    filter: OrderFilter,
    scope: Scope,
) -> impl Stream<Item = async_graphql::Result<Order>> + Send + 'static {
    let state = State {
        notices: Box::pin(notices.ready_chunks(BATCH)),
        db,
        filter,
        scope,
        delivered: HashMap::new(),
        ready: VecDeque::new(),
        _active: Active::new(),
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.ready.pop_front() {
                return Some((item, st));
            }
            let batch = st.notices.next().await?;
            match load(&st.db, &st.filter, &batch).await {
                Ok(rows) => {
                    for row in rows {
                        if !st.scope.admits(&row.customer_id) {
                            continue;
                        }
                        let last = st.delivered.entry(row.order_id).or_insert(-1);
                        if row.stream_version > *last {
                            *last = row.stream_version;
                            st.ready.push_back(Ok(Order(row)));
                        }
                    }
                    // Bounded memory for long subscriptions to everything.
                    if st.delivered.len() > 100_000 {
                        st.delivered.clear();
                    }
                }
                Err(e) => st.ready.push_back(Err(e.into())),
            }
        }
    })
}

fn row_position(row: &OrderRow) -> Option<Position> {
    row.last_position.parse().ok()
}

/// The orders of `batch` matching `filter`, in the order first notified.
async fn load(
    db: &ReadDb,
    filter: &OrderFilter,
    batch: &[OrderNotice],
) -> Result<Vec<OrderRow>, DbError> {
    let mut ids: Vec<Uuid> = Vec::new();
    let mut wanted: HashMap<Uuid, Position> = HashMap::new();
    for n in batch {
        let w = wanted.entry(n.order_id).or_insert_with(|| {
            ids.push(n.order_id);
            n.position
        });
        *w = (*w).max(n.position);
    }
    let mut rows = db.orders_by_ids(&ids).await?;
    for _ in 0..CATCH_UP_TRIES {
        let caught_up = ids.iter().all(|id| {
            rows.iter()
                .find(|r| r.order_id == *id)
                .is_some_and(|r| row_position(r).is_none_or(|p| Some(&p) >= wanted.get(id)))
        });
        if caught_up {
            break;
        }
        // Notices carry each order's own position, so on the primary this
        // never happens; a lagging replica makes it count.
        metrics::counter!("orderflow_query_subscription_rereads_total").increment(1);
        tokio::time::sleep(CATCH_UP_DELAY).await;
        rows = db.orders_by_ids(&ids).await?;
    }
    if !filter.matches_all() {
        let mut f = filter.clone();
        f.order_ids = Some(ids.clone());
        rows = db.orders_matching(&f).await?;
    }
    let mut by_id: HashMap<Uuid, OrderRow> = rows.into_iter().map(|r| (r.order_id, r)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}
