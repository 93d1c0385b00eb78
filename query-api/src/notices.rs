//! The projectors' change notices, from NATS:
//! `<prefix>.changes.projections.<name>` `{ "projection", "position" }`
//! after every committed batch, and `<prefix>.changes.orders.<id>`
//! `{ "order_id", "position" }` for every order the `orders` projection
//! changed (subjects and bodies: `orderflow_wire::notices`). Notices are
//! best effort: they only wake waiters and feed subscriptions, the
//! checkpoints in the read database stay the truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use orderflow_event_store::Position;
use orderflow_wire::notices::{self, ProjectionNotice};
use tokio::sync::watch;
use uuid::Uuid;

/// A notice that an order changed (the wire contract's type).
pub use orderflow_wire::notices::OrderNotice;

/// The connection to the notices; cheap to clone.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Option<async_nats::Client>,
    prefix: String,
    /// The newest position announced per projection.
    announced: Mutex<HashMap<String, Position>>,
    /// Bumped on every projection notice; waiters watch it.
    bumps: watch::Sender<u64>,
    listener: Option<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(l) = &self.listener {
            l.abort();
        }
    }
}

impl ChangeFeed {
    /// Connects to NATS in the background (reconnecting for ever) and starts
    /// listening for projection notices. Without NATS everything still
    /// works, waits just poll and subscriptions are refused.
    pub async fn connect(nats_url: &str, prefix: &str) -> ChangeFeed {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(nats_url)
            .await
            .map_err(|e| tracing::warn!(error = %e, "NATS unusable; no change notices"))
            .ok();
        ChangeFeed::with_client(client, prefix).await
    }

    /// A feed that never hears anything (tests, tools).
    pub async fn disconnected(prefix: &str) -> ChangeFeed {
        ChangeFeed::with_client(None, prefix).await
    }

    async fn with_client(client: Option<async_nats::Client>, prefix: &str) -> ChangeFeed {
        let (bumps, _) = watch::channel(0u64);
        let mut inner = Inner {
            client,
            prefix: prefix.to_owned(),
            announced: Mutex::new(HashMap::new()),
            bumps,
            listener: None,
        };
        if let Some(client) = inner.client.clone() {
            match client.subscribe(notices::all_projections(prefix)).await {
                Ok(sub) => {
                    // The listener holds only a weak reference, so dropping
                    // the last feed ends it.
                    let inner_arc = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
                        let weak = weak.clone();
                        let task = tokio::spawn(async move {
                            let mut sub = sub;
                            while let Some(msg) = sub.next().await {
                                let Some(inner) = weak.upgrade() else { break };
                                inner.on_projection_notice(&msg.payload);
                            }
                        });
                        inner.listener = Some(task.abort_handle());
                        inner
                    });
                    return ChangeFeed { inner: inner_arc };
                }
                Err(e) => tracing::warn!(error = %e, "cannot subscribe to projection notices"),
            }
        }
        ChangeFeed {
            inner: Arc::new(inner),
        }
    }

    /// Whether notices can arrive at all.
    pub fn connected(&self) -> bool {
        self.inner
            .client
            .as_ref()
            .is_some_and(|c| c.connection_state() == async_nats::connection::State::Connected)
    }

    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.inner.bumps.subscribe()
    }

    /// The newest position announced for `projection`, if any.
    pub(crate) fn announced(&self, projection: &str) -> Option<Position> {
        self.inner
            .announced
            .lock()
            .ok()
            .and_then(|m| m.get(projection).copied())
    }

    /// Order notices, for one order or for all.
    pub(crate) async fn order_notices(
        &self,
        order: Option<Uuid>,
    ) -> Result<impl futures::Stream<Item = OrderNotice> + Send + 'static, String> {
        let client = self
            .inner
            .client
            .as_ref()
            .ok_or_else(|| "change notices are unavailable (no NATS)".to_owned())?;
        let subject = match order {
            Some(id) => notices::order_subject(&self.inner.prefix, id),
            None => notices::all_orders(&self.inner.prefix),
        };
        let sub = client.subscribe(subject).await.map_err(|e| e.to_string())?;
        // Registered with the server before the first notice can matter.
        let _ = client.flush().await;
        Ok(sub
            .filter_map(|m| async move { serde_json::from_slice::<OrderNotice>(&m.payload).ok() }))
    }
}

impl Inner {
    fn on_projection_notice(&self, payload: &[u8]) {
        let Ok(n) = serde_json::from_slice::<ProjectionNotice>(payload) else {
            return;
        };
        if let Ok(mut m) = self.announced.lock() {
            let e = m.entry(n.projection).or_insert(n.position);
            *e = (*e).max(n.position);
        }
        self.bumps.send_modify(|b| *b = b.wrapping_add(1));
    }
}
