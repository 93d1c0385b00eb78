//! The subscription runtime: how anything that consumes the event log
//! (read-model projections, process managers) runs.
//!
//! # The loop
//!
//! A [`Subscriber`] has a name and a version. The [`Runtime`] runs one task
//! per subscriber ([`runner`](crate::Runtime::run)):
//!
//! 1. **Own it** ([`Lease`], `lease.rs`): wait for the subscriber's lease,
//!    a Postgres advisory lock on a dedicated connection. Any number of
//!    processes may run the same subscribers; one owns each at a time, the
//!    others stand by on one connection each and take over when the owner's
//!    session ends.
//! 2. **Be current** (`runner.rs`): if the stored checkpoint is missing or
//!    of an older version, call [`Subscriber::start_version`] (a read model
//!    rebuilds its tables there; the default starts at zero). A newer
//!    version makes this build wait, so a rolling deploy never downgrades.
//! 3. **Catch up** (`catch_up.rs`): read the events after the checkpoint
//!    from the store, through the `EventStore` trait, a batch at a time,
//!    until a read comes back short.
//! 4. **Go live** (`live.rs`): one ephemeral consumer per runtime reads
//!    the relay's JetStream stream and hands every message, decoded once,
//!    to each subscriber. Each message names the position before it; only
//!    an unbroken run from the checkpoint is handled, and anything else (a
//!    gap, a subscriber that fell behind the feed, a relay failover, NATS
//!    down, a quiet stream) goes back to 3.
//! 5. **Handle a batch** (`batch.rs`): one transaction on the subscriber's
//!    database: lock the checkpoint row and check it is where this owner
//!    left it, [`Subscriber::handle`] writes the effects, the checkpoint
//!    moves to the batch's last event, commit; then
//!    [`Subscriber::committed`]. Effects outside the database run first,
//!    in [`Subscriber::prepare`]; a subscriber may leave some under way
//!    ([`Prepared::First`]), and then only the events before them are
//!    handled and the rest come again with the next batch.
//!
//! # Guarantees
//!
//! - **Effects and checkpoint commit together** (`batch.rs`,
//!   `checkpoint.rs`): an effect in the subscriber's database exists
//!   exactly when the checkpoint covers its event. Delivery is at least
//!   once; events at or below the checkpoint are dropped, so duplicates
//!   have no effect. Effects outside the database (commands) get
//!   exactly-once through deterministic ids (see [`Subscriber`]).
//! - **One writer**: besides the lease, every batch re-checks the
//!   checkpoint (position, generation, version) under its row lock, so a
//!   stale owner, a skip or a rebuild swap can never interleave with it.
//! - **Poison stops, outages wait** (`batch.rs`, `dead_letter.rs`): an
//!   event that fails the same way every time ([`HandleError::Poison`], or
//!   a database error of class 22/23, see [`is_poison`]) is isolated from
//!   its batch, retried with backoff, then written to `dead_letters`, and
//!   the subscriber stops until an operator runs [`retry`] or [`skip`]
//!   (each recorded with its [`Actor`] in `operator_actions`).
//!   Anything else is transient: the owner backs off (doubling, up to
//!   10 s), says so in its checkpoint row, and tries again.
//! - **Observable** (`status.rs`, `metrics.rs`): [`status`] reports
//!   position, head, lag, state and dead letters of any subscriber; the
//!   same `orderflow_subscription_*` metrics, labelled `subscriber`, are
//!   exported for every one of them.
//!
//! # Tables
//!
//! The runtime keeps `projection_checkpoints` and `dead_letters` (names
//! from before it served more than projections) in the subscriber's own
//! database; [`migrate`] creates them. A subscriber's effects may live in
//! any tables of that database.

mod batch;
mod catch_up;
pub mod checkpoint;
mod config;
mod dead_letter;
mod error;
mod lease;
mod live;
pub mod metrics;
pub mod operator;
mod runner;
mod status;
mod subscriber;

pub use config::RuntimeConfig;
pub use dead_letter::{open_count as open_dead_letters, retry, skip};
pub use error::{HandleError, SubscriptionError, is_poison};
pub use lease::Lease;
pub use operator::{Actor, Via};
pub use runner::Runtime;
pub use status::{STATUS_LAG_LIMIT, SubscriberStatus, lag, status};
pub use subscriber::{Prepared, Subscriber};

/// Creates the runtime's tables in `pool`'s database if missing. Its
/// migrations keep their own history table, so they live alongside those
/// of whoever else migrates that database. On a database shared with the
/// read models, run the read models' migrations first (their first two
/// created these tables before the runtime had its own).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), SubscriptionError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_subscriptions_migrations");
    migrator
        .run(pool)
        .await
        .map_err(|e| SubscriptionError::Migrate(e.to_string()))
}
