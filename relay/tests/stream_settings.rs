//! The relay's JetStream stream against real NATS: created from the
//! settings, updated in place, its replicas never lowered, and settings
//! NATS refuses stopping the relay loudly. Replicas need a cluster, so the
//! replica tests start a private three-server one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, Context, stream};
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig};
use orderflow_relay::{RelayConfig, RelayError, ensure_stream, run_relay};
use orderflow_testkit::{NatsCluster, TestDb};
use uuid::Uuid;

fn shared_nats() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn config(nats_url: &str, replicas: Option<usize>) -> RelayConfig {
    let id = Uuid::now_v7().simple().to_string();
    RelayConfig {
        nats_url: nats_url.to_owned(),
        stream_name: format!("TEST_{id}"),
        subject_prefix: format!("t{id}"),
        max_age: Duration::from_secs(600),
        stream_replicas: replicas,
        standby_interval: Duration::from_millis(200),
        ..RelayConfig::default()
    }
}

async fn js(url: &str) -> Context {
    jetstream::new(async_nats::connect(url).await.expect("NATS"))
}

async fn settings(js: &Context, name: &str) -> stream::Config {
    js.get_stream(name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .clone()
}

/// On one server: a stream made by the relay and then edited by hand keeps
/// the hand-made settings when the relay starts again with new ones of its
/// own, and asking for replicas a single server cannot hold stops with an
/// error that names the setting, leaving the stream as it was.
#[tokio::test]
async fn an_existing_stream_is_updated_not_reset() {
    let url = shared_nats();
    let js = js(&url).await;
    let a = config(&url, None);
    ensure_stream(&js, &a).await.unwrap();
    let made = settings(&js, &a.stream_name).await;
    assert_eq!(made.num_replicas, 1);
    assert_eq!(made.max_age, Duration::from_secs(600));
    assert_eq!(made.subjects, vec![a.stream_subjects()]);

    // An operator limits its size and describes it.
    js.update_stream(stream::Config {
        max_bytes: 64 << 20,
        description: Some("sized by hand".into()),
        ..made
    })
    .await
    .unwrap();

    // Started again with a longer retention and a wider window.
    let b = RelayConfig {
        max_age: Duration::from_secs(7200),
        duplicate_window: Duration::from_secs(60),
        ..a.clone()
    };
    ensure_stream(&js, &b).await.unwrap();
    let now = settings(&js, &a.stream_name).await;
    assert_eq!(now.max_age, Duration::from_secs(7200));
    assert_eq!(now.duplicate_window, Duration::from_secs(60));
    assert_eq!(now.max_bytes, 64 << 20, "a hand-made limit was reset");
    assert_eq!(now.description.as_deref(), Some("sized by hand"));
    assert_eq!(now.num_replicas, 1);

    // Three replicas on a single server: NATS refuses, and so does the relay.
    let three = RelayConfig {
        stream_replicas: Some(3),
        ..b.clone()
    };
    let result = ensure_stream(&js, &three).await;
    let err = result.unwrap_err();
    assert!(matches!(err, RelayError::StreamConfig(_)), "{err:?}");
    assert!(err.to_string().contains("EVENTS_STREAM_REPLICAS"), "{err}");
    assert_eq!(settings(&js, &a.stream_name).await, now);

    js.delete_stream(&a.stream_name).await.unwrap();
}

/// A new stream with more replicas than the server can hold is refused the
/// same way, and nothing is created.
#[tokio::test]
async fn a_new_stream_nats_cannot_hold_is_refused() {
    let url = shared_nats();
    let js = js(&url).await;
    let c = config(&url, Some(3));
    let err = ensure_stream(&js, &c).await.unwrap_err();
    assert!(matches!(err, RelayError::StreamConfig(_)), "{err:?}");
    assert!(js.get_stream(&c.stream_name).await.is_err());
}

/// The relay itself stops with that error instead of backing off forever:
/// `run_relay` returns it (and the process exits with it).
#[tokio::test]
async fn a_relay_with_settings_nats_refuses_stops() {
    let db = TestDb::new().await;
    let store = PgEventStore::connect(PgStoreConfig::new(db.url()))
        .await
        .unwrap();
    let url = shared_nats();
    let c = config(&url, Some(3));
    let run = run_relay(
        Arc::new(store.clone()) as Arc<dyn EventStore>,
        store.pool().clone(),
        c,
        std::future::pending(),
    );
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the relay kept retrying a setting NATS refuses");
    assert!(
        matches!(result, Err(RelayError::StreamConfig(_))),
        "{result:?}"
    );
}

/// On a three-server cluster: a stream with three replicas keeps them when
/// the relay starts without the setting, refuses a setting of one (the
/// stream keeps its three), and takes its other settings; a one-replica
/// stream is raised to three when the setting asks.
#[tokio::test]
async fn replicas_go_up_on_request_and_never_down() {
    let cluster = NatsCluster::start();
    cluster.wait_ready().await;
    let url = cluster.url();
    let js = js(&url).await;

    let r3 = config(&url, Some(3));
    ensure_stream(&js, &r3).await.unwrap();
    assert_eq!(settings(&js, &r3.stream_name).await.num_replicas, 3);

    // Restarted without the setting and with another retention.
    let unset = RelayConfig {
        stream_replicas: None,
        max_age: Duration::from_secs(1800),
        ..r3.clone()
    };
    ensure_stream(&js, &unset).await.unwrap();
    let now = settings(&js, &r3.stream_name).await;
    assert_eq!(now.num_replicas, 3, "reset to the default");
    assert_eq!(now.max_age, Duration::from_secs(1800));

    // Restarted with fewer: refused, nothing changes.
    let one = RelayConfig {
        stream_replicas: Some(1),
        max_age: Duration::from_secs(60),
        ..r3.clone()
    };
    let err = ensure_stream(&js, &one).await.unwrap_err();
    assert!(matches!(err, RelayError::StreamConfig(_)), "{err:?}");
    assert!(err.to_string().contains("would lower"), "{err}");
    assert_eq!(settings(&js, &r3.stream_name).await, now);

    // A one-replica stream goes up when asked.
    let r1 = config(&url, Some(1));
    ensure_stream(&js, &r1).await.unwrap();
    assert_eq!(settings(&js, &r1.stream_name).await.num_replicas, 1);
    let raised = RelayConfig {
        stream_replicas: Some(3),
        ..r1.clone()
    };
    ensure_stream(&js, &raised).await.unwrap();
    assert_eq!(settings(&js, &r1.stream_name).await.num_replicas, 3);
}
