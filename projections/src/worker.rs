//! Applying a batch of events to one projection: fold in memory, write the
//! rows and the checkpoint in one transaction. Events at or below the
//! checkpoint are skipped, so redelivery and duplicates have no effect.

use std::time::{Duration, Instant};

use orderflow_event_store::{Position, RecordedEvent};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::{self, Checkpoint};
use crate::decode::{Decoded, decode};
use crate::error::ProjectionError;
use crate::fold::{self, Fold, ProjectionDef};

/// What a committed batch changed.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub events: usize,
    /// Each order changed, with the position of its own last event in the
    /// batch (what its rows now store, and what its notice must carry).
    pub orders: Vec<(Uuid, Position)>,
    pub last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
}

enum BatchError {
    /// Event `index` of the batch cannot be folded; `None`: one of them
    /// (a database error of the whole batch that will repeat, such as a
    /// value out of range), to be found by applying them one at a time.
    Poison {
        index: Option<usize>,
        message: String,
    },
    /// The checkpoint moved under us (rebuild, skip, retry, another owner).
    Stale,
    Failed(ProjectionError),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        BatchError::Failed(e.into())
    }
}

impl From<ProjectionError> for BatchError {
    fn from(e: ProjectionError) -> Self {
        BatchError::Failed(e)
    }
}

pub(crate) struct Worker {
    pub def: &'static ProjectionDef,
    fold: Box<dyn Fold>,
    pub position: Position,
    pub generation: i64,
    pub stopped: bool,
    max_cached: usize,
    max_attempts: u32,
    retry_backoff: Duration,
    async_commit: bool,
}

/// What applying events one at a time found.
enum Isolated {
    /// Event `.0` fails, with this message; those before it applied.
    Found(usize, String),
    /// Every event applied.
    AllApplied,
    /// Stopped early: what `process` returns.
    Done(Result<Outcome, ProjectionError>),
}

/// The outcome of `process`.
pub(crate) enum Outcome {
    Applied(Applied),
    /// Checkpoint changed elsewhere; the worker has re-read it.
    Resynced,
    /// A poison event was dead-lettered; the projection is stopped.
    Stopped(ProjectionError),
}

impl Worker {
    pub fn new(
        def: &'static ProjectionDef,
        cp: &Checkpoint,
        config: &crate::ProjectorConfig,
    ) -> Worker {
        Worker {
            def,
            fold: (def.new_fold)(),
            position: cp.position,
            generation: cp.generation,
            stopped: cp.stopped,
            max_cached: config.max_cached_orders,
            max_attempts: config.max_attempts.max(1),
            retry_backoff: config.retry_backoff,
            async_commit: config.async_commit,
        }
    }

    pub fn resync(&mut self, cp: &Checkpoint) {
        self.fold.clear();
        self.position = cp.position;
        self.generation = cp.generation;
        self.stopped = cp.stopped;
    }

    /// Applies `events` (in store order), isolating a poison event: the
    /// events before it commit, it is retried with backoff, then
    /// dead-lettered, and the projection stops.
    pub async fn process(
        &mut self,
        pool: &PgPool,
        events: &[RecordedEvent],
    ) -> Result<Outcome, ProjectionError> {
        let mut total = Applied::default();
        let mut rest = events;
        while !rest.is_empty() {
            let (index, message) = match self.apply_batch(pool, rest).await {
                Ok(a) => {
                    merge(&mut total, a);
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
                        Ok(a) => {
                            merge(&mut total, a);
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
                        tracing::debug!(projection = self.def.name, error = %message,
                            "batch failed whole but each event applied alone");
                        break;
                    }
                    Isolated::Done(outcome) => return outcome,
                },
            };
            let poison = &rest[index..=index];
            match self.retry_one(pool, poison, message).await? {
                None => {}
                Some(outcome) => {
                    if let Outcome::Applied(a) = outcome {
                        merge(&mut total, a);
                    } else {
                        return Ok(outcome);
                    }
                }
            }
            rest = &rest[index + 1..];
        }
        Ok(Outcome::Applied(total))
    }

    /// Applies `events` one at a time (each its own transaction) up to the
    /// first that fails as poison. Rare, so simplicity wins over speed.
    async fn isolate(
        &mut self,
        pool: &PgPool,
        events: &[RecordedEvent],
        total: &mut Applied,
    ) -> Isolated {
        for (i, one) in events.chunks(1).enumerate() {
            match self.apply_batch(pool, one).await {
                Ok(a) => merge(total, a),
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
    ) -> Result<Option<Outcome>, ProjectionError> {
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
        // owner that lost its lock while retrying must not stop a
        // projection that another owner (or a skip) already moved on.
        let expected = db::Expected {
            version: self.def.version,
            position: self.position,
            generation: self.generation,
        };
        if !db::dead_letter(
            pool,
            self.def.name,
            expected,
            bad,
            &message,
            self.max_attempts,
        )
        .await?
        {
            tracing::info!(projection = self.def.name, position = %bad.position,
                "checkpoint moved on while retrying; not dead-lettering");
            return self.reload(pool).await.map(Some);
        }
        tracing::error!(projection = self.def.name, position = %bad.position, error = %message,
            "poison event dead-lettered; projection stopped");
        metrics::counter!("orderflow_projection_dead_letters_total", "projection" => self.def.name)
            .increment(1);
        metrics::gauge!("orderflow_projection_stopped", "projection" => self.def.name).set(1.0);
        self.stopped = true;
        self.fold.clear();
        Ok(Some(Outcome::Stopped(ProjectionError::Poison {
            projection: self.def.name.into(),
            position: bad.position,
            message,
        })))
    }

    async fn reload(&mut self, pool: &PgPool) -> Result<Outcome, ProjectionError> {
        let mut conn = pool.acquire().await?;
        match db::load_checkpoint(&mut conn, self.def.name).await? {
            Some(cp) => self.resync(&cp),
            None => self.fold.clear(),
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
        let Some(last) = events.last() else {
            return Ok(Applied::default());
        };
        let started = Instant::now();
        let mut decoded: Vec<Decoded> = Vec::with_capacity(events.len());
        for (index, e) in events.iter().enumerate() {
            match decode(e) {
                Ok(Some(d)) => decoded.push(d),
                Ok(None) => {}
                Err(err) => {
                    return Err(BatchError::Poison {
                        index: Some(start + index),
                        message: err.0,
                    });
                }
            }
        }
        let result = self.write(pool, &decoded, last.position).await;
        match result {
            Ok(()) => {}
            Err(BatchError::Poison {
                index: Some(index),
                message,
            }) => {
                // `index` counts decoded events; map it back to the batch.
                let pos = decoded.get(index).map(|d| d.position);
                let raw = events.iter().position(|e| Some(e.position) == pos);
                return Err(BatchError::Poison {
                    index: raw.map(|raw| start + raw),
                    message,
                });
            }
            Err(e) => return Err(e),
        }
        self.position = last.position;
        metrics::counter!("orderflow_projection_events_total", "projection" => self.def.name)
            .increment(events.len() as u64);
        metrics::histogram!("orderflow_projection_batch_seconds", "projection" => self.def.name)
            .record(started.elapsed().as_secs_f64());
        let mut last_of: std::collections::HashMap<Uuid, Position> =
            std::collections::HashMap::with_capacity(decoded.len());
        for d in &decoded {
            // Store order: the last event seen is the order's newest.
            last_of.insert(d.order_id, d.position);
        }
        let mut orders: Vec<(Uuid, Position)> = last_of.into_iter().collect();
        orders.sort_unstable_by_key(|(_, p)| *p);
        Ok(Applied {
            events: events.len(),
            orders,
            last_recorded_at: Some(last.recorded_at),
        })
    }

    /// One transaction: lock and check the checkpoint, load missing state,
    /// fold, write rows, move the checkpoint.
    async fn write(
        &mut self,
        pool: &PgPool,
        decoded: &[Decoded],
        last: Position,
    ) -> Result<(), BatchError> {
        let mut tx = pool.begin().await?;
        if self.async_commit {
            sqlx::query("SET LOCAL synchronous_commit TO off")
                .execute(&mut *tx)
                .await?;
        }
        let cp = db::lock_checkpoint(&mut tx, self.def.name).await?;
        let expected = db::Expected {
            version: self.def.version,
            position: self.position,
            generation: self.generation,
        };
        match cp {
            Some(cp) if expected.matches(&cp) => {}
            _ => {
                self.fold.clear();
                return Err(BatchError::Stale);
            }
        }
        if self.fold.cached() > self.max_cached {
            self.fold.clear();
        }
        let outcome = async {
            let missing = fold::missing(self.fold.as_ref(), decoded);
            if !missing.is_empty() {
                self.fold.load(&mut tx, &missing).await.map_err(sql_error)?;
            }
            for (i, d) in decoded.iter().enumerate() {
                if let Err(e) = self.fold.apply(d) {
                    return Err(BatchError::Poison {
                        index: Some(i),
                        message: e.0,
                    });
                }
            }
            self.fold.flush(&mut tx).await.map_err(sql_error)?;
            db::save_position(&mut tx, self.def.name, last).await?;
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            self.fold.clear();
            return Err(e);
        }
        if let Err(e) = tx.commit().await {
            self.fold.clear();
            return Err(sql_error(e));
        }
        Ok(())
    }
}

/// A database error while folding: poison if it will repeat (see
/// [`db::is_poison`]), to be pinned on one event; otherwise transient.
fn sql_error(e: sqlx::Error) -> BatchError {
    if db::is_poison(&e) {
        BatchError::Poison {
            index: None,
            message: e.to_string(),
        }
    } else {
        BatchError::Failed(e.into())
    }
}

fn merge(total: &mut Applied, a: Applied) {
    total.events += a.events;
    total.orders.extend(a.orders);
    if a.last_recorded_at.is_some() {
        total.last_recorded_at = a.last_recorded_at;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use orderflow_event_store::{EventMetadata, Position, RecordedEvent, StreamId};
    use orderflow_testkit::TestDb;
    use sqlx::{AssertSqlSafe, PgPool};

    use super::{Outcome, Worker};
    use crate::db;
    use crate::fold::projection;

    /// The read database with the `orders` tables and checkpoint at zero.
    async fn read_db(db: &TestDb) -> PgPool {
        let pool = db::connect_read_db(db.url(), 4).await.unwrap();
        let def = projection("orders").unwrap();
        sqlx::raw_sql(AssertSqlSafe(def.ddl))
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO projection_checkpoints (name, version, position) VALUES ($1, $2, $3)",
        )
        .bind(def.name)
        .bind(def.version)
        .bind(Position::START.to_string())
        .execute(&pool)
        .await
        .unwrap();
        pool
    }

    /// An order event nobody can decode.
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

    /// An owner that lost its lock while retrying a poison event (a zombie)
    /// must not dead-letter it and stop the projection once another owner,
    /// a skip or a rebuild moved the checkpoint on: the dead letter is
    /// written under the same checkpoint check as every other write.
    #[tokio::test]
    async fn a_zombie_owner_cannot_stop_a_projection_that_moved_on() {
        let test_db = TestDb::new().await;
        let pool = read_db(&test_db).await;
        let def = projection("orders").unwrap();
        let config = crate::ProjectorConfig {
            max_attempts: 2,
            retry_backoff: Duration::from_millis(1),
            ..crate::ProjectorConfig::default()
        };
        let mut conn = pool.acquire().await.unwrap();
        let cp = db::load_checkpoint(&mut conn, def.name)
            .await
            .unwrap()
            .unwrap();
        let mut zombie = Worker::new(def, &cp, &config);
        let bad = poison(Position::new(10, 10));
        // Meanwhile the new owner skipped it (position and generation move).
        sqlx::query(
            "UPDATE projection_checkpoints SET position = $2, generation = generation + 1 \
             WHERE name = $1",
        )
        .bind(def.name)
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
        let cp = db::load_checkpoint(&mut conn, def.name)
            .await
            .unwrap()
            .unwrap();
        assert!(!cp.stopped, "{cp:?}");
        assert_eq!(cp.position, bad.position);
        // Resynced to where the projection is, the worker skips the event.
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
