//! Live consumption from JetStream behind a real relay.

use std::time::Duration;

use async_nats::jetstream;
use futures::{StreamExt, TryStreamExt};
use orderflow_projections::PROJECTIONS;

use crate::support::{Env, Workload, assert_same, dump, nats_url, rebuilt};

#[tokio::test]
async fn live_from_jetstream_equals_rebuild_and_sends_change_notices() {
    let env = Env::small_batches().await;
    let client = async_nats::connect(nats_url()).await.unwrap();
    let mut notices = client
        .subscribe(format!("{}.changes.orders.>", env.config.subject_prefix))
        .await
        .unwrap();
    let relay = env.start_relay().await;
    let projector = env.start_projector().await;
    let mut work = Workload::new(3);
    work.run(&env.store, 300, 60).await;
    // Let the live feeds attach before the bulk of the load.
    tokio::time::sleep(Duration::from_millis(800)).await;
    work.run(&env.store, 2500, 300).await;
    env.wait_for(work.last, &[]).await;
    let live = dump(&env.read).await;

    // The live path was used: one consumer feeds every projection of the
    // process, and it delivered the stream.
    let js = jetstream::new(client.clone());
    let mut stream = js.get_stream(&env.config.stream_name).await.unwrap();
    let consumers: Vec<_> = stream.consumers().try_collect().await.unwrap();
    assert_eq!(consumers.len(), 1, "{consumers:?}");
    assert!(PROJECTIONS.len() > 1);
    let n = stream.info().await.unwrap().state.messages;
    assert!(n > 1000);
    assert!(
        consumers[0].delivered.stream_sequence > n / 2,
        "{:?}",
        consumers[0]
    );
    projector.stop().await;
    relay.stop().await;

    let notice = tokio::time::timeout(Duration::from_secs(5), notices.next())
        .await
        .unwrap()
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&notice.payload).unwrap();
    assert!(body["order_id"].is_string() && body["position"].is_string());

    assert_same(&live, &rebuilt(&env).await);
    env.cleanup().await;
}

#[tokio::test]
async fn redelivered_and_duplicate_messages_have_no_second_effect() {
    let env = Env::small_batches().await;
    let relay = env.start_relay().await;
    let projector = env.start_projector().await;
    let mut work = Workload::new(5);
    work.run(&env.store, 1200, 150).await;
    env.wait_for(work.last, &[]).await;

    // Every message so far published again under a new message id (so
    // JetStream keeps the copies), while the projector is live: each is
    // an event it has already applied.
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = jetstream::new(client);
    let stream = js.get_stream(&env.config.stream_name).await.unwrap();
    let published = stream.get_info().await.unwrap().state.last_sequence;
    for seq in 1..=published {
        let m = stream.get_raw_message(seq).await.unwrap();
        // Its headers, but not the relay's sequence expectation.
        let mut headers = async_nats::HeaderMap::new();
        for (name, values) in m.headers.iter() {
            if name.to_string() != "Nats-Expected-Last-Sequence" {
                for value in values {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("copy-{seq}").as_str(),
        );
        js.publish_with_headers(m.subject.clone(), headers, m.payload.clone())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // And the relay publishes everything again (de-duplicated by id).
    relay.stop().await;
    orderflow_event_store::pg_admin::forget_relay_checkpoints(&env.store)
        .await
        .unwrap();
    let relay = env.start_relay().await;
    work.run(&env.store, 800, 250).await;
    env.wait_for(work.last, &[]).await;

    // The relay's replay was de-duplicated: beside the copies made above,
    // the stream holds each stored event once.
    let stored = orderflow_event_store::EventStore::read_all(
        &env.store,
        orderflow_event_store::Position::START,
        100_000,
    )
    .await
    .unwrap()
    .len() as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let state = js
            .get_stream(&env.config.stream_name)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .clone();
        if state.last_sequence >= stored + published {
            assert_eq!(state.messages, stored + published, "the stream doubled");
            assert_eq!(state.last_sequence, stored + published);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The projector's feed delivered the copies.
    let consumers: Vec<_> = stream.consumers().try_collect().await.unwrap();
    assert!(
        consumers
            .iter()
            .any(|c| c.delivered.stream_sequence >= 2 * published),
        "{consumers:?}"
    );

    let live = dump(&env.read).await;
    projector.stop().await;
    relay.stop().await;
    // The final rows: those of a rebuild, and one `orders` row per order.
    let orders = live["orders"].len();
    let streams = orderflow_event_store::pg_admin::last_versions(&env.store)
        .await
        .unwrap()
        .keys()
        .filter(|s| s.category() == "order")
        .count() as i64;
    assert_eq!(orders as i64, streams);
    assert_same(&live, &rebuilt(&env).await);
    env.cleanup().await;
}

/// Orders committed in one transaction are folded in one batch. Each
/// order's change notice carries that order's own last position, the one
/// its `orders` row stores, not the batch's end (which made subscribers
/// wait and re-read for every order but the batch's last).
#[tokio::test]
async fn change_notices_carry_each_orders_own_position() {
    let env = Env::small_batches().await;
    let mut work = Workload::new(6);
    work.run(&env.store, 40, 10).await;
    let client = async_nats::connect(nats_url()).await.unwrap();
    let mut notices = client
        .subscribe(format!("{}.changes.orders.*", env.config.subject_prefix))
        .await
        .unwrap();
    client.flush().await.unwrap();
    // No relay: the projector reads the store, so a transaction's events
    // arrive in one batch.
    let projector = env.start_projector().await;
    env.wait_for(work.last, &[]).await;

    // Each template order's events copied to a new order, all in one
    // transaction.
    let copied = super::copies::copy_orders(&env.store, 1).await.ids;
    assert!(copied.len() >= 5, "{copied:?}");
    let copied: std::collections::HashSet<uuid::Uuid> = copied.into_iter().collect();
    // Until the copies are projected (the head may lag behind the insert
    // while other tests hold the cluster-wide watermark).
    let ids: Vec<uuid::Uuid> = copied.iter().copied().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let rows: std::collections::HashMap<uuid::Uuid, String> = loop {
        let rows: Vec<(uuid::Uuid, String)> =
            sqlx::query_as("SELECT order_id, last_position FROM orders WHERE order_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&env.read)
                .await
                .unwrap();
        if rows.len() == ids.len() {
            break rows.into_iter().collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "copies never projected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Each copied order changed once, in that one batch: its notice carries
    // the position its row stores.
    let mut notified = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while notified.len() < copied.len() {
        let m = tokio::time::timeout_at(deadline, notices.next())
            .await
            .unwrap_or_else(|_| panic!("notices for {notified:?} of {copied:?} only"))
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let id: uuid::Uuid = body["order_id"].as_str().unwrap().parse().unwrap();
        if copied.contains(&id) {
            let position = body["position"].as_str().unwrap().to_owned();
            assert_eq!(Some(&position), rows.get(&id), "notice of {id}");
            assert!(
                notified.insert(id, position).is_none(),
                "two notices for {id}"
            );
        }
    }
    let distinct: std::collections::HashSet<_> = notified.values().collect();
    assert_eq!(distinct.len(), copied.len(), "{notified:?}");
    // Only now: notices are sent after the commit, and stopping drops the
    // projector's NATS connection (notices are best effort).
    projector.stop().await;
}
