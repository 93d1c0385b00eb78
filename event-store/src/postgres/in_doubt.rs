//! Settling a COMMIT whose answer was lost. When the connection breaks while
//! COMMIT is in flight, the transaction may have committed or not; the
//! transaction id (known from the insert's `RETURNING`) tells which, asked on
//! another connection with `pg_xact_status`.

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

use crate::StoreError;

/// How long to keep asking before answering "unknown". A transaction whose
/// client is gone stays "in progress" only until its backend notices (at
/// once for a closed socket; at worst `idle_in_transaction_session_timeout`).
const SETTLE_FOR: Duration = Duration::from_secs(5);
const ASK_EVERY: Duration = Duration::from_millis(100);

/// What became of a transaction whose COMMIT went unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Committed,
    Aborted,
}

/// Asks Postgres until the transaction is settled, or gives up with
/// [`StoreError::Ambiguous`] (carrying `cause`, the commit's error).
pub(super) async fn settle(pool: &PgPool, txid: u64, cause: &str) -> Result<Outcome, StoreError> {
    let deadline = Instant::now() + SETTLE_FOR;
    let mut last = String::from("not asked yet");
    loop {
        let ask = sqlx::query_scalar::<_, Option<String>>("SELECT pg_xact_status($1::text::xid8)")
            .bind(txid.to_string())
            .fetch_one(pool);
        // Bounded as a whole: connecting may hang as long as Postgres is away.
        let Ok(status) = tokio::time::timeout_at(deadline, ask).await else {
            break;
        };
        match status.as_ref().map(Option::as_deref) {
            Ok(Some("committed")) => return Ok(Outcome::Committed),
            Ok(Some("aborted")) => return Ok(Outcome::Aborted),
            Ok(Some(other)) => last = format!("transaction {txid} is {other}"),
            // NULL: too old for the commit log to know (cannot happen seconds
            // after the insert, but then nothing more can be learnt).
            Ok(None) => break,
            Err(e) => last = e.to_string(),
        }
        if Instant::now() + ASK_EVERY > deadline {
            break;
        }
        tokio::time::sleep(ASK_EVERY).await;
    }
    Err(StoreError::Ambiguous(format!(
        "COMMIT of transaction {txid} failed ({cause}) and its outcome could not be \
         learnt ({last})"
    )))
}
