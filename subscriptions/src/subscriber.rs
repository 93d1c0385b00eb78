//! What a consumer of the event log implements to run on the runtime.

use async_trait::async_trait;
use orderflow_event_store::{Position, RecordedEvent};
use sqlx::{PgConnection, PgPool};

use crate::checkpoint;
use crate::error::{HandleError, SubscriptionError};

/// How much of a batch [`Subscriber::prepare`] finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// Every event's effects are done: the whole batch is handled.
    All,
    /// The effects of the first `n` events are done; those of the rest are
    /// still under way (they keep running). Only the first `n` are handled
    /// and checkpointed now; the rest come again, first in a later batch,
    /// where `prepare` must recognise them instead of acting twice. This
    /// lets a slow order's effects run on while later events start,
    /// instead of every batch waiting for its slowest event.
    First(usize),
}

/// A named, versioned consumer of the event log.
///
/// The runtime hands it the events after its checkpoint, in store order,
/// a batch at a time, together with an open transaction on the subscriber's
/// database. Whatever `handle` writes through that transaction commits
/// atomically with the checkpoint move, or not at all: an effect is in the
/// database exactly when the checkpoint says its event was handled.
///
/// Delivery is at least once: after a crash, a lost lease or a rolled back
/// transaction the same events come again (the checkpoint did not move). So
///
/// - effects inside the transaction (read-model rows, a process manager's
///   own state and deadline rows) happen exactly once, because they commit
///   with the checkpoint;
/// - effects outside it (a process manager's commands, appended to the
///   event store) must be idempotent: give each command a deterministic id
///   derived from what caused it (instance stream + step), so a repeat is
///   recognised by the aggregate or the idempotency store and has no
///   second effect. At-least-once delivery plus deterministic ids is
///   exactly-once effect. Issue such a command in [`prepare`], before the
///   transaction opens (or inside `handle`, before it commits): if the
///   commit then fails, the retry re-issues the same id, which is a no-op.
///
/// [`prepare`]: Subscriber::prepare
///
/// Two owners never run the same subscriber at once (see
/// [`Lease`](crate::Lease)), and even a stale owner that lost its lease
/// cannot commit: every batch re-checks the checkpoint under a row lock.
#[async_trait]
pub trait Subscriber: Send + 'static {
    /// Unique per database: names the checkpoint row, the lease and the
    /// `subscriber` metrics label.
    fn name(&self) -> &'static str;

    /// The version of the effects this code produces. When the stored
    /// checkpoint has an older one (or none), [`start_version`] runs before
    /// anything else; a newer one (a rolling deploy's new build already ran)
    /// makes this build wait instead of fighting it.
    ///
    /// [`start_version`]: Subscriber::start_version
    fn version(&self) -> i32;

    /// Effects outside the database, issued before the batch's
    /// transaction opens (the default has none). The transaction takes a
    /// row lock, and with it a transaction id that holds back every reader
    /// of the event log on the same Postgres cluster until it commits; a
    /// subscriber whose effects are slow (a process manager's commands)
    /// issues them here so that the transaction stays short. The same rules
    /// as for commands in `handle` apply: idempotent under deterministic
    /// ids, since a failed batch prepares again. An error is treated as one
    /// of `handle` (the transaction is then never opened).
    ///
    /// A subscriber may leave effects under way between batches (see
    /// [`Prepared::First`]): the runtime then commits only the events whose
    /// effects are done and offers the rest again with the next batch.
    async fn prepare(&mut self, events: &[RecordedEvent]) -> Result<Prepared, HandleError> {
        let _ = events;
        Ok(Prepared::All)
    }

    /// Applies `events` (store order, all after the checkpoint, never
    /// empty) through `tx`. The runtime moves the checkpoint to the last
    /// event in the same transaction and commits; on any error it rolls back
    /// and calls [`reset`](Subscriber::reset).
    async fn handle(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), HandleError>;

    /// The transaction of the last successful `handle` committed; the
    /// checkpoint is now `position`. For effects that must follow the
    /// commit, best effort (e.g. change notices).
    fn committed(&mut self, position: Position) {
        let _ = position;
    }

    /// Forget in-memory state derived from events: the last transaction
    /// rolled back, or the checkpoint moved under this owner (skip, retry,
    /// a rebuild, another owner).
    fn reset(&mut self);

    /// Brings the subscriber's effects to [`version`](Subscriber::version)
    /// from position zero and leaves a checkpoint at that version; called
    /// (while owning the lease) when the stored checkpoint is missing or
    /// older. The default starts at zero with nothing to rebuild, which
    /// suits a subscriber whose effects are keyed by what caused them. A
    /// read model overrides it to build fresh tables and swap them in with
    /// [`checkpoint::restart`] in the swap's transaction.
    async fn start_version(&mut self, pool: &PgPool) -> Result<(), SubscriptionError> {
        let mut tx = pool.begin().await?;
        checkpoint::restart(&mut tx, self.name(), self.version(), Position::START).await?;
        tx.commit().await?;
        Ok(())
    }
}
