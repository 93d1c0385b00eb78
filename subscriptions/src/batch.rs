//! Handling one batch: a transaction that checks the checkpoint under its
//! row lock, lets the subscriber write its effects, moves the checkpoint and
//! commits. Events at or below the checkpoint are dropped first, so
//! redelivery and duplicates have no effect.
//!
//! A poison event is isolated: the events before it commit, it is retried
//! with backoff, then dead-lettered, and the subscriber stops.

use std::time::{Duration, Instant};

use orderflow_event_store::{Position, RecordedEvent};
use sqlx::PgPool;

use crate::checkpoint::{self, Checkpoint, Expected};
use crate::error::{HandleError, SubscriptionError, is_poison};
use crate::{Prepared, RuntimeConfig, Subscriber, dead_letter, metrics};

/// What committed batches handled.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub events: usize,
    pub last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Applied {
    fn merge(&mut self, a: Applied) {
        self.events += a.events;
        if a.last_recorded_at.is_some() {
            self.last_recorded_at = a.last_recorded_at;
        }
    }
}

enum BatchError {
    /// Event `index` of the batch cannot be handled; `None`: one of them
    /// (a database error of the whole batch that will repeat), to be found
    /// by handling them one at a time.
    Poison {
        index: Option<usize>,
        message: String,
    },
    /// The checkpoint moved under us (rebuild, skip, retry, another owner).
    Stale,
    Failed(SubscriptionError),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        BatchError::Failed(e.into())
    }
}

impl From<SubscriptionError> for BatchError {
    fn from(e: SubscriptionError) -> Self {
        BatchError::Failed(e)
    }
}

/// A database error: poison if it will repeat, to be pinned on one event;
/// otherwise transient.
fn sql_error(e: sqlx::Error) -> BatchError {
    if is_poison(&e) {
        BatchError::Poison {
            index: None,
            message: e.to_string(),
        }
    } else {
        BatchError::Failed(e.into())
    }
}

/// What a subscriber's refusal means for the batch.
fn handle_error(e: HandleError) -> BatchError {
    match e {
        HandleError::Poison { index, message } => BatchError::Poison {
            index: Some(index),
            message,
        },
        HandleError::Database(e) => sql_error(e),
        HandleError::Transient(m) => BatchError::Failed(SubscriptionError::Transient(m)),
    }
}

/// What handling events one at a time found.
enum Isolated {
    /// Event `.0` fails, with this message; those before it applied.
    Found(usize, String),
    AllApplied,
    /// Stopped early: what `process` returns.
    Done(Result<Outcome, SubscriptionError>),
}

/// The outcome of [`Worker::process`].
pub(crate) enum Outcome {
    Applied(Applied),
    /// Checkpoint changed elsewhere; the worker has re-read it.
    Resynced,
    /// A poison event was dead-lettered; the subscriber is stopped.
    Stopped(SubscriptionError),
}

/// One subscriber and where it is, as its owner sees it.
pub(crate) struct Worker {
    pub sub: Box<dyn Subscriber>,
    pub name: &'static str,
    pub position: Position,
    pub generation: i64,
    pub stopped: bool,
    max_attempts: u32,
    retry_backoff: Duration,
    async_commit: bool,
}

impl Worker {
    /// A worker at position zero: [`resync`](Worker::resync) it to the
    /// checkpoint before use.
    pub fn new(sub: Box<dyn Subscriber>, config: &RuntimeConfig) -> Worker {
        Worker {
            name: sub.name(),
            sub,
            position: Position::START,
            generation: 0,
            stopped: false,
            max_attempts: config.max_attempts.max(1),
            retry_backoff: config.retry_backoff,
            async_commit: config.async_commit,
        }
    }

    pub fn resync(&mut self, cp: &Checkpoint) {
        self.sub.reset();
        self.position = cp.position;
        self.generation = cp.generation;
        self.stopped = cp.stopped;
    }

    fn expected(&self) -> Expected {
        Expected {
            version: self.sub.version(),
            position: self.position,
            generation: self.generation,
        }
    }

    /// Handles `events` (in store order), isolating a poison event.
    pub async fn process(
        &mut self,
        pool: &PgPool,
        events: &[RecordedEvent],
    ) -> Result<Outcome, SubscriptionError> {
        let mut total = Applied::default();
        let mut rest = events;
        while !rest.is_empty() {
            let (index, message) = match self.apply_batch(pool, rest).await {
                Ok(a) => {
                    total.merge(a);
                    break;
                }
                Err(BatchError::Stale) => return self.reload(pool).await,
                Err(BatchError::Failed(e)) => return Err(e),
                Err(BatchError::Poison {
                    index: Some(index),
                    message,
                }) => {
                    let prefix = if index > 0 {
                        self.apply_batch(pool, &rest[..index]).await
                    } else {
                        Ok(Applied::default())
                    };
                    match prefix {
                        // The events before it are not all done (effects
                        // still under way): the failing event is not next
                        // yet; it comes again with the rest.
                        Ok(a) if index > 0 && self.position < rest[index - 1].position => {
                            total.merge(a);
                            return Ok(Outcome::Applied(total));
                        }
                        Ok(a) => {
                            total.merge(a);
                            (index, message)
                        }
                        Err(BatchError::Stale) => return self.reload(pool).await,
                        Err(BatchError::Failed(e)) => return Err(e),
                        // The events before it fail too (in the database):
                        // find the first culprit one event at a time.
                        Err(BatchError::Poison { .. }) => {
                            match self.isolate(pool, rest, &mut total).await {
                                Isolated::Found(i, m) => (i, m),
                                Isolated::AllApplied => break,
                                Isolated::Done(outcome) => return outcome,
                            }
                        }
                    }
                }
                // The whole batch failed in the database: find the event.
                Err(BatchError::Poison {
                    index: None,
                    message,
                }) => match self.isolate(pool, rest, &mut total).await {
                    Isolated::Found(i, m) => (i, m),
                    Isolated::AllApplied => {
                        tracing::debug!(subscriber = self.name, error = %message,
                            "batch failed whole but each event applied alone");
                        break;
                    }
                    Isolated::Done(outcome) => return outcome,
                },
            };
            let poison = &rest[index..=index];
            match self.retry_one(pool, poison, message).await? {
                None => {}
                Some(Outcome::Applied(a)) => total.merge(a),
                Some(outcome) => return Ok(outcome),
            }
            // Its effects are under way again (not failed, not done): what
            // follows must wait for it; all of it comes again later.
            if self.position < poison[0].position {
                return Ok(Outcome::Applied(total));
            }
            rest = &rest[index + 1..];
        }
        Ok(Outcome::Applied(total))
    }

    /// Handles `events` one at a time (each its own transaction) up to the
    /// first that fails as poison. Rare, so simplicity wins over speed.
    async fn isolate(
        &mut self,
        pool: &PgPool,
        events: &[RecordedEvent],
        total: &mut Applied,
    ) -> Isolated {
        for (i, one) in events.chunks(1).enumerate() {
            match self.apply_batch(pool, one).await {
                // Its effects are still under way: the next event must not
                // be handled before it; all of them come again later.
                Ok(a) if one.iter().any(|e| e.position > self.position) => {
                    total.merge(a);
                    return Isolated::Done(Ok(Outcome::Applied(std::mem::take(total))));
                }
                Ok(a) => total.merge(a),
                Err(BatchError::Stale) => return Isolated::Done(self.reload(pool).await),
                Err(BatchError::Failed(e)) => return Isolated::Done(Err(e)),
                Err(BatchError::Poison { message, .. }) => return Isolated::Found(i, message),
            }
        }
        Isolated::AllApplied
    }

    /// Retries one failing event; `Ok(None)` once it applied.
    async fn retry_one(
        &mut self,
        pool: &PgPool,
        event: &[RecordedEvent],
        mut message: String,
    ) -> Result<Option<Outcome>, SubscriptionError> {
        let mut delay = self.retry_backoff;
        for _ in 1..self.max_attempts {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
            match self.apply_batch(pool, event).await {
                Ok(a) => return Ok(Some(Outcome::Applied(a))),
                Err(BatchError::Poison { message: m, .. }) => message = m,
                Err(BatchError::Stale) => return self.reload(pool).await.map(Some),
                Err(BatchError::Failed(e)) => return Err(e),
            }
        }
        let Some(bad) = event.first() else {
            return Ok(None);
        };
        // Only if the checkpoint is still where this worker left it: an
        // owner that lost its lease while retrying must not stop a
        // subscriber that another owner (or a skip) already moved on.
        let recorded = dead_letter::record(
            pool,
            self.name,
            self.expected(),
            bad,
            &message,
            self.max_attempts,
        )
        .await?;
        if !recorded {
            tracing::info!(subscriber = self.name, position = %bad.position,
                "checkpoint moved on while retrying; not dead-lettering");
            return self.reload(pool).await.map(Some);
        }
        tracing::error!(subscriber = self.name, position = %bad.position, error = %message,
            "poison event dead-lettered; subscriber stopped");
        metrics::dead_letter(self.name);
        metrics::stopped(self.name, true);
        self.stopped = true;
        self.sub.reset();
        Ok(Some(Outcome::Stopped(SubscriptionError::Poison {
            subscriber: self.name.into(),
            position: bad.position,
            message,
        })))
    }

    async fn reload(&mut self, pool: &PgPool) -> Result<Outcome, SubscriptionError> {
        let mut conn = pool.acquire().await?;
        match checkpoint::load(&mut conn, self.name).await? {
            Some(cp) => self.resync(&cp),
            None => self.sub.reset(),
        }
        Ok(Outcome::Resynced)
    }

    async fn apply_batch(
        &mut self,
        pool: &PgPool,
        events: &[RecordedEvent],
    ) -> Result<Applied, BatchError> {
        let start = events.partition_point(|e| e.position <= self.position);
        let events = &events[start..];
        if events.is_empty() {
            return Ok(Applied::default());
        }
        let started = Instant::now();
        let done = match self.write(pool, events).await {
            Ok(done) => done,
            Err(e) => {
                self.sub.reset();
                return Err(match e {
                    BatchError::Poison {
                        index: Some(index),
                        message,
                    } => BatchError::Poison {
                        index: Some(start + index),
                        message,
                    },
                    e => e,
                });
            }
        };
        let Some(last) = events[..done].last() else {
            return Ok(Applied::default());
        };
        self.position = last.position;
        metrics::batch(self.name, done, started.elapsed(), last.position);
        self.sub.committed(last.position);
        Ok(Applied {
            events: done,
            last_recorded_at: Some(last.recorded_at),
        })
    }

    /// The subscriber's effects outside the database, then one
    /// transaction over the events whose effects are done: move the
    /// checkpoint under its lock and check what it was, let the subscriber
    /// write, commit. Returns how many of `events` it handled (all, unless the
    /// subscriber left some under way).
    async fn write(
        &mut self,
        pool: &PgPool,
        events: &[RecordedEvent],
    ) -> Result<usize, BatchError> {
        let done = match self.sub.prepare(events).await.map_err(handle_error)? {
            Prepared::All => events.len(),
            Prepared::First(n) => n.min(events.len()),
        };
        let events = &events[..done];
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(0);
        };
        // One round trip opens the transaction and sets its commit mode.
        let mut tx = if self.async_commit {
            pool.begin_with("BEGIN; SET LOCAL synchronous_commit TO off")
                .await?
        } else {
            pool.begin().await?
        };
        // Moved first, under its lock; any error below rolls it back.
        match checkpoint::advance(&mut tx, self.name, last).await? {
            Some(cp) if self.expected().matches(&cp) => {}
            _ => return Err(BatchError::Stale),
        }
        self.sub
            .handle(&mut tx, events)
            .await
            .map_err(handle_error)?;
        tx.commit().await.map_err(sql_error)?;
        Ok(done)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;
    use orderflow_event_store::{EventMetadata, Position, RecordedEvent, StreamId};
    use orderflow_testkit::TestDb;
    use sqlx::{PgConnection, PgPool};

    use super::{BatchError, Outcome, Worker};
    use crate::{HandleError, RuntimeConfig, Subscriber, checkpoint};

    /// Refuses every event: each is poison.
    struct Refuses;

    #[async_trait]
    impl Subscriber for Refuses {
        fn name(&self) -> &'static str {
            "refuses"
        }
        fn version(&self) -> i32 {
            1
        }
        async fn handle(
            &mut self,
            _: &mut PgConnection,
            _: &[RecordedEvent],
        ) -> Result<(), HandleError> {
            Err(HandleError::Poison {
                index: 0,
                message: "cannot read it".into(),
            })
        }
        fn reset(&mut self) {}
    }

    /// Takes every event and writes a row for each, so a rolled-back batch
    /// shows.
    struct Records;

    #[async_trait]
    impl Subscriber for Records {
        fn name(&self) -> &'static str {
            "records"
        }
        fn version(&self) -> i32 {
            1
        }
        async fn handle(
            &mut self,
            tx: &mut PgConnection,
            events: &[RecordedEvent],
        ) -> Result<(), HandleError> {
            for e in events {
                sqlx::query("INSERT INTO recorded (position) VALUES ($1)")
                    .bind(e.position.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        }
        fn reset(&mut self) {}
    }

    /// The checkpoint moves in the batch's first statement, under its lock:
    /// with the effects when they commit, not at all when the checkpoint was
    /// not where the owner left it or the effects fail.
    #[tokio::test]
    async fn a_batch_moves_the_checkpoint_with_its_effects_or_not_at_all() {
        let test_db = TestDb::new().await;
        let pool = pool(&test_db).await;
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("CREATE TABLE recorded (position text PRIMARY KEY)")
            .execute(&mut *conn)
            .await
            .unwrap();
        checkpoint::restart(&mut conn, "records", 1, Position::START)
            .await
            .unwrap();
        let config = RuntimeConfig::default();
        let mut worker = Worker::new(Box::new(Records), &config);
        let cp = checkpoint::load(&mut conn, "records")
            .await
            .unwrap()
            .unwrap();
        worker.resync(&cp);

        let outcome = worker
            .process(&pool, &[poison(Position::new(5, 5))])
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Applied(_)));
        assert_eq!(checkpoint_at(&pool).await, (Position::new(5, 5), 1));

        // The effects fail (the row exists): the checkpoint stays.
        let failed = worker.write(&pool, &[poison(Position::new(5, 5))]).await;
        assert!(failed.is_err());
        assert_eq!(checkpoint_at(&pool).await, (Position::new(5, 5), 1));

        // Another owner moved it on: this one writes nothing.
        sqlx::query(
            "UPDATE projection_checkpoints SET position = $1, generation = generation + 1 \
             WHERE name = 'records'",
        )
        .bind(Position::new(7, 7).to_string())
        .execute(&pool)
        .await
        .unwrap();
        let stale = worker.write(&pool, &[poison(Position::new(6, 6))]).await;
        assert!(matches!(stale, Err(BatchError::Stale)));
        assert_eq!(checkpoint_at(&pool).await, (Position::new(7, 7), 1));
    }

    /// The checkpoint of `records` and how many effects were recorded.
    async fn checkpoint_at(pool: &PgPool) -> (Position, i64) {
        let mut conn = pool.acquire().await.unwrap();
        let cp = checkpoint::load(&mut conn, "records")
            .await
            .unwrap()
            .unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM recorded")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        (cp.position, rows)
    }

    /// The runtime's tables with the checkpoint at zero.
    async fn pool(db: &TestDb) -> PgPool {
        let pool = PgPool::connect(db.url()).await.unwrap();
        crate::migrate(&pool).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        checkpoint::restart(&mut conn, "refuses", 1, Position::START)
            .await
            .unwrap();
        pool
    }

    fn poison(position: Position) -> RecordedEvent {
        RecordedEvent {
            position,
            stream_id: StreamId::new(format!("order-{}", uuid::Uuid::now_v7())).unwrap(),
            stream_version: 1,
            event_id: uuid::Uuid::now_v7(),
            event_type: "OrderConfirmed".into(),
            schema_version: 1,
            payload: serde_json::json!({ "not": "an event" }),
            metadata: EventMetadata::default(),
            recorded_at: chrono::Utc::now(),
        }
    }

    /// An owner that lost its lease while retrying a poison event (a
    /// zombie) must not dead-letter it and stop the subscriber once another
    /// owner, a skip or a rebuild moved the checkpoint on: the dead letter
    /// is written under the same checkpoint check as every other write.
    #[tokio::test]
    async fn a_zombie_owner_cannot_stop_a_subscriber_that_moved_on() {
        let test_db = TestDb::new().await;
        let pool = pool(&test_db).await;
        let config = RuntimeConfig {
            max_attempts: 2,
            retry_backoff: Duration::from_millis(1),
            ..RuntimeConfig::default()
        };
        let mut conn = pool.acquire().await.unwrap();
        let cp = checkpoint::load(&mut conn, "refuses")
            .await
            .unwrap()
            .unwrap();
        let mut zombie = Worker::new(Box::new(Refuses), &config);
        zombie.resync(&cp);
        let bad = poison(Position::new(10, 10));
        // Meanwhile the new owner skipped it (position and generation move).
        sqlx::query(
            "UPDATE projection_checkpoints SET position = $2, generation = generation + 1 \
             WHERE name = $1",
        )
        .bind("refuses")
        .bind(bad.position.to_string())
        .execute(&pool)
        .await
        .unwrap();

        let outcome = zombie
            .process(&pool, std::slice::from_ref(&bad))
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Resynced));
        let letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(letters, 0);
        let cp = checkpoint::load(&mut conn, "refuses")
            .await
            .unwrap()
            .unwrap();
        assert!(!cp.stopped, "{cp:?}");
        assert_eq!(cp.position, bad.position);
        // Resynced to where the subscriber is, the worker skips the event.
        assert_eq!(zombie.position, bad.position);
        assert!(!zombie.stopped);

        // The same worker, when the checkpoint is where it left it, does
        // dead-letter a poison event and stop.
        let next = poison(Position::new(11, 11));
        let outcome = zombie
            .process(&pool, std::slice::from_ref(&next))
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Stopped(_)));
        let letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(letters, 1);
    }
}
