//! NATS stopped during load and restarted: a private nats-server (never the
//! shared one) is killed under the relay and the projector, then restarted.

use std::time::Duration;

use async_nats::jetstream;
use orderflow_event_store::Position;
use orderflow_projections::ProjectorConfig;
use orderflow_relay::headers;
use orderflow_testkit::{PrivateNats, free_port};

use crate::support::{Env, Workload, assert_same, dump, rebuilt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_outage_during_load_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("orderflow-nats-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let nats = PrivateNats::start(free_port(), &dir);
    nats.wait_ready().await;
    let mut env = Env::small_batches().await;
    env.config = ProjectorConfig {
        nats_url: nats.url(),
        ..env.config.clone()
    };
    env.relay.nats_url = nats.url();
    let relay = env.start_relay().await;
    let projector = env.start_projector().await;
    let mut work = Workload::new(31);
    work.run(&env.store, 600, 100).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (port, dir) = nats.kill();
    work.run(&env.store, 600, 200).await;
    // The projector keeps up from the store while NATS is away.
    env.wait_for(work.last, &[]).await;

    let nats = PrivateNats::start(port, &dir);
    nats.wait_ready().await;
    work.run(&env.store, 600, 300).await;
    env.wait_for(work.last, &[]).await;

    // The relay caught up too: the stream holds every event once, in order.
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let stored = orderflow_event_store::EventStore::read_all(&env.store, Position::START, 100_000)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        let mut s = js.get_stream(&env.relay.stream_name).await.unwrap();
        if s.info().await.unwrap().state.messages >= stored.len() as u64 {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let last = stream.info().await.unwrap().state.last_sequence;
    assert_eq!(last, stored.len() as u64);
    for (seq, e) in (1..=last).zip(&stored) {
        let m = stream.get_raw_message(seq).await.unwrap();
        let p = m
            .headers
            .get(headers::POSITION)
            .unwrap()
            .as_str()
            .to_owned();
        assert_eq!(p, e.position.to_string());
    }

    let live = dump(&env.read).await;
    projector.stop().await;
    relay.stop().await;
    nats.kill();
    let _ = std::fs::remove_dir_all(&dir);
    assert_same(&live, &rebuilt(&env).await);
}
