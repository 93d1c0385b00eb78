//! Read-your-writes: a query sent with a position token waits, bounded,
//! until every projection it reads has a checkpoint at or past the token.
//! Change notices wake the wait; the checkpoints in the read database
//! decide (the database may be a replica that applies a commit after the
//! notice about it arrived). A slow re-check covers lost notices.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use async_graphql::Context;
use orderflow_event_store::Position;
use tokio::sync::OnceCell;

use crate::db::ReadDb;
use crate::error::{DbError, ErrorCode};
use crate::notices::ChangeFeed;

/// Re-check interval when no notice comes.
const FALLBACK_RECHECK: Duration = Duration::from_millis(250);

/// What the client asked for with its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionRequest {
    pub position: Position,
    /// Error with `STALE` instead of answering with older data.
    pub strict: bool,
}

/// The projections a query with these field names reads. Deliberately
/// generous (a name used anywhere counts): waiting for one projection too
/// many costs a little time, one too few breaks read-your-writes.
pub fn projections_read(field_names: &BTreeSet<String>) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for name in field_names {
        let reads: &[&'static str] = match name.as_str() {
            "order" | "orderChanged" => &["orders"],
            // Lists can filter by sku, which order_items knows.
            "orders" | "ordersChanged" => &["orders", "order_items"],
            "items" => &["order_items"],
            "customer" | "stats" | "lifetimeValue" => &["customer_stats"],
            "salesByDay" => &["daily_sales"],
            // From product_sales, or from the orders paid in a date range.
            "topProducts" => &["product_sales", "orders", "order_items"],
            "product" | "stock" | "lowStock" => &["stock_levels"],
            _ => &[],
        };
        out.extend(reads.iter().copied());
    }
    out
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Freshness {
    pub fresh: bool,
    pub requested: Position,
    pub waited: Duration,
    /// Each projection read and its checkpoint when last checked (`None`:
    /// never built).
    pub checkpoints: BTreeMap<&'static str, Option<Position>>,
}

impl Freshness {
    /// The `extensions.consistency` object of a response.
    pub fn to_json(&self) -> serde_json::Value {
        let projections: serde_json::Map<String, serde_json::Value> = self
            .checkpoints
            .iter()
            .map(|(name, p)| {
                (
                    (*name).to_owned(),
                    p.map_or(serde_json::Value::Null, |p| p.to_string().into()),
                )
            })
            .collect();
        serde_json::json!({
            "fresh": self.fresh,
            "position": self.requested.to_string(),
            "waitedMs": u64::try_from(self.waited.as_millis()).unwrap_or(u64::MAX),
            "projections": projections,
        })
    }

    /// Projections still behind the requested position.
    pub fn behind(&self) -> Vec<&'static str> {
        self.checkpoints
            .iter()
            .filter(|(_, p)| p.is_none_or(|p| p < self.requested))
            .map(|(n, _)| *n)
            .collect()
    }
}

struct Check {
    checkpoints: BTreeMap<&'static str, Option<Position>>,
    /// A projection behind the target that is stopped on a dead letter:
    /// waiting cannot help.
    stuck: bool,
}

async fn check(db: &ReadDb, names: &[&'static str], target: Position) -> Result<Check, DbError> {
    let rows = db.checkpoints(Some(names)).await?;
    let mut checkpoints: BTreeMap<&'static str, Option<Position>> =
        names.iter().map(|n| (*n, None)).collect();
    let mut stuck = false;
    for row in rows {
        let Some(name) = names.iter().find(|n| **n == row.name) else {
            continue;
        };
        let position = row.position.parse::<Position>().ok();
        if row.state == "stopped" && position.is_none_or(|p| p < target) {
            stuck = true;
        }
        checkpoints.insert(name, position);
    }
    Ok(Check { checkpoints, stuck })
}

/// Waits until every projection in `names` has reached `target`, or
/// `bound` has passed, whichever is first.
pub async fn wait_for(
    db: &ReadDb,
    feed: &ChangeFeed,
    names: &[&'static str],
    target: Position,
    bound: Duration,
) -> Result<Freshness, DbError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + bound;
    // Watch before the first check, so a notice between the check and the
    // wait still wakes it.
    let mut bumps = feed.watch();
    loop {
        let c = check(db, names, target).await?;
        let fresh = c
            .checkpoints
            .values()
            .all(|p| p.is_some_and(|p| p >= target));
        if fresh || c.stuck || tokio::time::Instant::now() >= deadline {
            let f = Freshness {
                fresh,
                requested: target,
                waited: started.elapsed(),
                checkpoints: c.checkpoints,
            };
            metrics::histogram!(
                "orderflow_query_position_wait_seconds",
                "outcome" => if fresh { "fresh" } else { "stale" }
            )
            .record(f.waited.as_secs_f64());
            return Ok(f);
        }
        let behind: Vec<&'static str> = c
            .checkpoints
            .iter()
            .filter(|(_, p)| p.is_none_or(|p| p < target))
            .map(|(n, _)| *n)
            .collect();
        let recheck_at = deadline.min(tokio::time::Instant::now() + FALLBACK_RECHECK);
        // Sleep until a notice says every lagging projection got there (then
        // confirm in the database), or the re-check is due.
        loop {
            tokio::select! {
                changed = bumps.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep_until(recheck_at).await;
                        break;
                    }
                    if behind
                        .iter()
                        .all(|n| feed.announced(n).is_some_and(|p| p >= target))
                    {
                        break;
                    }
                }
                () = tokio::time::sleep_until(recheck_at) => break,
            }
        }
    }
}

/// One request's wait, run at most once: the first root field that reads
/// a projection runs it (so after validation: a query refused by the
/// schema never waits or reads a checkpoint), the others share its result.
pub(crate) struct Gate {
    pub wanted: PositionRequest,
    pub names: Vec<&'static str>,
    pub bound: Duration,
    pub db: ReadDb,
    pub feed: ChangeFeed,
    outcome: OnceCell<Result<Freshness, DbError>>,
}

impl Gate {
    pub fn new(
        wanted: PositionRequest,
        names: Vec<&'static str>,
        bound: Duration,
        db: ReadDb,
        feed: ChangeFeed,
    ) -> Gate {
        Gate {
            wanted,
            names,
            bound,
            db,
            feed,
            outcome: OnceCell::new(),
        }
    }

    async fn pass(&self) -> async_graphql::Result<()> {
        let outcome = self
            .outcome
            .get_or_init(|| {
                wait_for(
                    &self.db,
                    &self.feed,
                    &self.names,
                    self.wanted.position,
                    self.bound,
                )
            })
            .await;
        match outcome {
            Ok(f) if f.fresh || !self.wanted.strict => Ok(()),
            Ok(f) => Err(stale(f)),
            Err(e) => Err(e.clone().into()),
        }
    }

    /// How the wait ended, if it ran.
    pub fn outcome(&self) -> Option<&Result<Freshness, DbError>> {
        self.outcome.get()
    }
}

pub(crate) fn stale(f: &Freshness) -> async_graphql::Error {
    ErrorCode::Stale.error(format!(
        "read models {} have not reached position {} after {} ms",
        f.behind().join(", "),
        f.requested,
        f.waited.as_millis()
    ))
}

/// Awaited first by every root field that reads a projection.
pub(crate) async fn gate(ctx: &Context<'_>) -> async_graphql::Result<()> {
    match ctx.data_opt::<std::sync::Arc<Gate>>() {
        Some(g) => g.pass().await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn maps_fields_to_projections() {
        let r = projections_read(&names(&["order", "id", "items", "total"]));
        assert_eq!(r.into_iter().collect::<Vec<_>>(), ["order_items", "orders"]);
        let r = projections_read(&names(&["customer", "stats", "salesByDay"]));
        assert_eq!(
            r.into_iter().collect::<Vec<_>>(),
            ["customer_stats", "daily_sales"]
        );
        let r = projections_read(&names(&["lowStock", "available"]));
        assert_eq!(r.into_iter().collect::<Vec<_>>(), ["stock_levels"]);
        assert!(projections_read(&names(&["projections", "name", "__typename"])).is_empty());
    }
}
