//! Commits of other processes, learnt by `LISTEN`: every batch the writers
//! commit sends one `NOTIFY` on [`CHANNEL`] (delivered at commit, empty
//! payload), and a listener turns each into a bump of the store's
//! [`Commits`], which wakes its [`AppendSignal`](crate::AppendSignal)s.

use std::sync::Weak;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::watch;

use crate::append_signal::Commits;

/// The notification channel of committed appends.
pub(super) const CHANNEL: &str = "orderflow_events_appended";

/// How long the listener waits before checking that its store still lives,
/// and before connecting again after a failure.
const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Listens until the store's last holder is gone, on a connection of its
/// own (not one of the store's pool).
pub(super) async fn run(pool: &PgPool, commits: Weak<watch::Sender<u64>>) {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    loop {
        let mut listener = match PgListener::connect_with(&own).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "append listener cannot connect; polling meanwhile");
                tokio::time::sleep(CHECK_INTERVAL).await;
                if commits.strong_count() == 0 {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!(error = %e, "LISTEN failed; polling meanwhile");
            tokio::time::sleep(CHECK_INTERVAL).await;
            continue;
        }
        loop {
            match tokio::time::timeout(CHECK_INTERVAL, listener.recv()).await {
                Ok(Ok(_)) => match Commits::upgrade(&commits) {
                    Some(c) => c.bump(),
                    None => return,
                },
                // Reconnects on the next round (`recv` reconnects too, but
                // says so with an error first).
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "append listener lost its connection");
                    // Whatever committed meanwhile was not announced.
                    if let Some(c) = Commits::upgrade(&commits) {
                        c.bump();
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    break;
                }
                Err(_) if commits.strong_count() == 0 => return,
                Err(_) => {}
            }
        }
    }
}
