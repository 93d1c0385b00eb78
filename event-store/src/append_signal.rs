//! Waking log readers when appends commit, instead of making them poll.
//!
//! A reader (the relay) that found nothing new waits on an [`AppendSignal`]
//! for at most its poll interval. A store that can tell when it committed
//! wakes it at once; one that cannot (the default) just sleeps. The poll
//! stays as the floor either way: a commit can be readable only later (the
//! watermark waits for an older transaction elsewhere on the cluster), and
//! a wake-up can be lost (a listener reconnecting).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

/// A counter of commits, bumped by whoever learns of one. The store and
/// its writers hold it; a listener task holds it weakly and ends with them.
#[derive(Debug, Clone)]
pub(crate) struct Commits(Arc<watch::Sender<u64>>);

impl Commits {
    pub fn new() -> Commits {
        Commits(Arc::new(watch::Sender::new(0)))
    }

    /// Something committed (here, or in another process).
    pub fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn signal(&self) -> AppendSignal {
        AppendSignal {
            commits: Some(self.0.subscribe()),
        }
    }

    pub fn downgrade(&self) -> Weak<watch::Sender<u64>> {
        Arc::downgrade(&self.0)
    }

    pub fn upgrade(weak: &Weak<watch::Sender<u64>>) -> Option<Commits> {
        weak.upgrade().map(Commits)
    }
}

/// What a log reader waits on between reads: see the module docs.
#[derive(Debug)]
pub struct AppendSignal {
    /// `None`: the store cannot tell; [`wait`](AppendSignal::wait) sleeps.
    commits: Option<watch::Receiver<u64>>,
}

impl AppendSignal {
    /// A signal that never fires: waiting is sleeping.
    pub fn polling() -> AppendSignal {
        AppendSignal { commits: None }
    }

    /// Returns when an append committed since the last call (at once if
    /// one already did), or after `at_most`.
    pub async fn wait(&mut self, at_most: Duration) {
        match &mut self.commits {
            Some(commits) => {
                if tokio::time::timeout(at_most, commits.changed())
                    .await
                    .is_ok_and(|r| r.is_err())
                {
                    // Nobody bumps it any more (the store was dropped).
                    self.commits = None;
                    tokio::time::sleep(at_most).await;
                }
            }
            None => tokio::time::sleep(at_most).await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{AppendSignal, Commits};

    #[tokio::test]
    async fn a_commit_wakes_the_waiter_and_one_before_the_wait_is_not_lost() {
        let commits = Commits::new();
        let mut signal = commits.signal();
        // Bumped while the reader was busy reading: the next wait returns
        // at once instead of sleeping through it.
        commits.bump();
        let started = Instant::now();
        signal.wait(Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(1));

        let bumper = commits.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            bumper.bump();
        });
        let started = Instant::now();
        signal.wait(Duration::from_secs(5)).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(15), "{waited:?}");
        assert!(waited < Duration::from_secs(1), "{waited:?}");
    }

    #[tokio::test]
    async fn without_a_commit_the_wait_ends_at_its_limit() {
        let commits = Commits::new();
        let mut signal = commits.signal();
        let started = Instant::now();
        signal.wait(Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(25));

        let mut polling = AppendSignal::polling();
        let started = Instant::now();
        polling.wait(Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(25));
    }
}
