//! `bench lag --stages`: where each command's lag goes. A core NATS
//! subscription beside the projector notes when each order event reaches
//! NATS; the watcher then cuts every lag in two at that moment:
//!
//! - **response → on NATS**: the store's commit is already behind the
//!   response, so this is the relay's wake-up, read and publish (zero when
//!   the event was on NATS before the client had its answer);
//! - **on NATS → row visible**: the live feed, the projection's batch and
//!   transaction, and the watcher's poll.
//!
//! The tap is one more delivery of every order event (to this process), so
//! it is off unless asked for: the headline figures stay comparable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use hdrhistogram::Histogram;
use orderflow_domain::OrderId;
use orderflow_wire::headers;
use uuid::Uuid;

use super::load::new_histogram;

/// When each `(order, stream version)` reached NATS.
type Arrivals = Arc<Mutex<HashMap<(Uuid, i64), Instant>>>;

/// The running subscription; stops when dropped.
pub struct Tap {
    arrivals: Arrivals,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    /// Subscribes to the order events under `prefix` before any command is
    /// sent.
    pub async fn start(nats_url: &str, prefix: &str) -> anyhow::Result<Tap> {
        let client = async_nats::connect(nats_url).await?;
        let mut messages = client.subscribe(format!("{prefix}.events.order.>")).await?;
        // The subscription is registered once the server has seen it.
        client.flush().await?;
        let arrivals = Arrivals::default();
        let into = Arc::clone(&arrivals);
        let task = tokio::spawn(async move {
            let _client = client;
            while let Some(m) = messages.next().await {
                let at = Instant::now();
                if let Some(key) = m.headers.as_ref().and_then(order_version) {
                    into.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, at);
                }
            }
        });
        Ok(Tap { arrivals, task })
    }

    /// A recorder for the watcher.
    pub fn stages(&self) -> Stages {
        Stages::new(Arc::clone(&self.arrivals))
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The order and stream version a message carries, from its headers.
fn order_version(h: &async_nats::HeaderMap) -> Option<(Uuid, i64)> {
    let stream = h.get(headers::CE_SUBJECT)?.as_str();
    let order = OrderId::from_stream_id(stream).ok()?;
    let version = h.get(headers::STREAM_VERSION)?.as_str().parse().ok()?;
    Some((*order.as_uuid(), version))
}

/// Each measured lag, cut at the moment its event reached NATS.
pub struct Stages {
    arrivals: Arrivals,
    pub to_nats_us: Histogram<u64>,
    pub nats_to_row_us: Histogram<u64>,
    /// Lags whose event the tap did not see (not split).
    pub untapped: u64,
}

impl Stages {
    fn new(arrivals: Arrivals) -> Stages {
        Stages {
            arrivals,
            to_nats_us: new_histogram(),
            nats_to_row_us: new_histogram(),
            untapped: 0,
        }
    }

    /// Splits the lag of `(order, version)`, answered at `since` and seen at
    /// `seen`; the two parts add up to the lag.
    pub fn record(&mut self, order: Uuid, version: i64, since: Instant, seen: Instant) {
        let arrived = self
            .arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(order, version));
        let Some(arrived) = arrived else {
            self.untapped += 1;
            return;
        };
        let on_nats = arrived.max(since);
        let micros = |from: Instant, to: Instant| {
            u64::try_from(to.saturating_duration_since(from).as_micros())
                .unwrap_or(u64::MAX)
                .max(1)
        };
        let _ = self.to_nats_us.record(micros(since, on_nats));
        let _ = self.nats_to_row_us.record(micros(on_nats, seen));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn stages() -> Stages {
        Stages::new(Arrivals::default())
    }

    #[test]
    fn a_lag_is_cut_where_its_event_reached_nats() {
        let mut s = stages();
        let (order, since) = (Uuid::now_v7(), Instant::now());
        s.arrivals
            .lock()
            .unwrap()
            .insert((order, 3), since + Duration::from_millis(4));
        s.record(order, 3, since, since + Duration::from_millis(10));
        assert_eq!(s.to_nats_us.max() / 1000, 4);
        assert_eq!(s.nats_to_row_us.max() / 1000, 6);
        assert_eq!(s.untapped, 0);
    }

    #[test]
    fn an_event_on_nats_before_the_response_puts_the_whole_lag_after_it() {
        let mut s = stages();
        let (order, since) = (Uuid::now_v7(), Instant::now() + Duration::from_millis(5));
        s.arrivals
            .lock()
            .unwrap()
            .insert((order, 1), Instant::now());
        s.record(order, 1, since, since + Duration::from_millis(7));
        assert!(s.to_nats_us.max() <= 1);
        assert_eq!(s.nats_to_row_us.max() / 1000, 7);
    }

    #[test]
    fn an_event_the_tap_missed_is_counted_not_split() {
        let mut s = stages();
        let now = Instant::now();
        s.record(Uuid::now_v7(), 1, now, now);
        assert_eq!((s.untapped, s.to_nats_us.len()), (1, 0));
    }

    #[test]
    fn headers_name_the_order_and_its_version() {
        let order = Uuid::now_v7();
        let mut h = async_nats::HeaderMap::new();
        h.insert(
            headers::CE_SUBJECT,
            OrderId::new(order).stream_id().as_str(),
        );
        h.insert(headers::STREAM_VERSION, "4");
        assert_eq!(order_version(&h), Some((order, 4)));
        h.insert(headers::CE_SUBJECT, "stock-abc");
        assert_eq!(order_version(&h), None);
    }
}
