//! A projection rebuild swaps tables under the query API: queries keep
//! being answered, before, during and after the swap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use orderflow_event_store::EventStore;
use orderflow_projections::ProjectorConfig;
use serde_json::json;

use crate::support::{Env, path_to};

const QUERY: &str = "query($id: UUID!) {
    order(id: $id) { id status items { sku } customer { stats { orderCount } } }
    orders(first: 20, filter: { sku: \"SKU-1\" }) { totalCount nodes { id } }
    topProducts { sku } }";

#[tokio::test]
async fn queries_are_answered_across_a_rebuild() {
    let env = Arc::new(Env::start().await);
    let mut last = String::new();
    let mut first = None;
    for i in 0..20 {
        let (id, _) = env
            .create_order(&format!("rb-{}", i % 4), "EUR", &[("SKU-1", 1, 100)])
            .await;
        last = env.advance(id, &path_to("paid")).await;
        first.get_or_insert(id);
    }
    env.settle(&last).await;
    let id = first.unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (env, done) = (env.clone(), done.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                let r = env.gql(QUERY, json!({ "id": id })).await;
                assert_eq!(r.data()["orders"]["totalCount"], 20, "{}", r.body);
                assert_eq!(r.data()["order"]["items"][0]["sku"], "SKU-1");
                n += 1;
            }
            n
        })
    };
    let config = ProjectorConfig {
        events_database_url: env.events_db.url().to_owned(),
        read_database_url: env.read_db.url().to_owned(),
        ..ProjectorConfig::default()
    };
    let store: Arc<dyn EventStore> = Arc::new(env.store.clone());
    for _ in 0..3 {
        orderflow_projections::rebuild_with(
            store.clone(),
            &env.read,
            Some(env.store.pool()),
            "all",
            &config,
            &mut |_| {},
        )
        .await
        .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let answered = reader.await.unwrap();
    assert!(answered > 3, "{answered} queries during the rebuilds");
    match Arc::try_unwrap(env) {
        Ok(env) => env.finish().await,
        Err(_) => panic!("env still shared"),
    }
}
