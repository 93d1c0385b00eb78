//! Many clients changing one order at once: no lost update, no spurious error.

use serde_json::json;

use crate::app::{TestApp, money};

#[tokio::test]
async fn concurrent_updates_to_one_order_all_apply() {
    let app = TestApp::start().await;
    let r = app
        .post("/orders", json!({ "customer_id": "c", "currency": "EUR" }))
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let clients = 24;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let req = app
                .client
                .post(app.url(&format!("/orders/{id}/items")))
                .bearer_auth(app.auth.everything_for("c"))
                .json(&json!({ "sku": format!("SKU-{i}"), "name": "n", "quantity": 1, "unit_price": money(100) }));
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200, "no client sees a conflict");
    }
    let order = app.get(&format!("/orders/{id}")).await;
    assert_eq!(order.body["items"].as_array().unwrap().len(), clients);
    assert_eq!(order.body["total"], money(100 * clients as i64));
    assert_eq!(order.etag(), format!("\"{}\"", clients + 1));
}

/// Two command handlers are two processes as far as locking goes: their
/// commands on one order race in the store and the loser re-decides.
#[tokio::test]
async fn handlers_in_different_processes_retry_conflicts_instead_of_failing() {
    use std::sync::Arc;

    use orderflow_command_api::{CommandContext, CommandHandler, CommandOutcome};
    use orderflow_domain::{Channel, Currency, CustomerId, Money, OrderCommand, OrderId, Sku};

    let app = TestApp::start().await;
    let store: Arc<dyn orderflow_event_store::EventStore> = Arc::new(app.store.clone());
    let (a, b) = (
        CommandHandler::new(store.clone()),
        CommandHandler::new(store),
    );
    let order = OrderId::new(uuid::Uuid::now_v7());
    let create = OrderCommand::CreateOrder {
        order_id: order,
        customer_id: CustomerId::new("c").unwrap(),
        currency: Currency::new("EUR").unwrap(),
        channel: Channel::Unknown,
        items: vec![],
        shipping_address: None,
    };
    let ctx = CommandContext::default();
    a.execute(order, &create, &ctx).await.unwrap();
    // Six commands per handler: each handler runs its own one at a time, so a
    // command can lose at most six races in a row, within the handler's ten
    // attempts however the two interleave.
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let handler = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let add = OrderCommand::AddItem {
                    sku: Sku::new(format!("S-{i}")).unwrap(),
                    name: "n".into(),
                    quantity: 1,
                    unit_price: Money::new(100, Currency::new("EUR").unwrap()),
                };
                handler
                    .execute(order, &add, &CommandContext::default())
                    .await
            })
        })
        .collect();
    for t in tasks {
        let outcome = t.await.unwrap();
        assert!(
            matches!(outcome, Ok(CommandOutcome::Applied { .. })),
            "{outcome:?}"
        );
    }
    let (state, _) = a.load(order).await.unwrap();
    assert_eq!(state.items.len(), 12);
    assert_eq!(state.version, 13);
    // Counted per handler: the process-wide counter is also bumped by the
    // other tests of this binary, running at the same time.
    assert!(
        a.conflict_retries() + b.conflict_retries() > 0,
        "the two handlers did race"
    );
}

/// A process whose cached order is stale (another process moved it on) must
/// answer as if it had read the store: no false rejection, no false 412.
#[tokio::test]
async fn a_stale_cache_never_changes_an_answer() {
    use std::sync::Arc;

    use orderflow_command_api::{CommandContext, CommandError, CommandHandler, CommandOutcome};
    use orderflow_domain::{
        Channel, Currency, CustomerId, Money, NewItem, OrderCommand, OrderId, ShippingAddress, Sku,
    };

    let app = TestApp::start().await;
    let store: Arc<dyn orderflow_event_store::EventStore> = Arc::new(app.store.clone());
    let (a, b) = (
        CommandHandler::new(store.clone()),
        CommandHandler::new(store),
    );
    let order = OrderId::new(uuid::Uuid::now_v7());
    let eur = Currency::new("EUR").unwrap();
    let create = OrderCommand::CreateOrder {
        order_id: order,
        customer_id: CustomerId::new("c").unwrap(),
        currency: eur,
        channel: Channel::Api,
        items: vec![NewItem {
            sku: Sku::new("S-1").unwrap(),
            name: "n".into(),
            quantity: 1,
            unit_price: Money::new(100, eur),
        }],
        shipping_address: Some(ShippingAddress {
            name: "A".into(),
            line1: "B".into(),
            line2: None,
            city: "C".into(),
            postal_code: "D".into(),
            country: "GB".into(),
        }),
    };
    let ctx = CommandContext::default();
    a.execute(order, &create, &ctx).await.unwrap(); // a caches: draft, v3
    b.execute(order, &OrderCommand::SubmitOrder, &ctx)
        .await
        .unwrap(); // now submitted, v4
    // On its cached draft, a would refuse ConfirmOrder; it must reload instead.
    let confirmed = a.execute(order, &OrderCommand::ConfirmOrder, &ctx).await;
    assert!(
        matches!(confirmed, Ok(CommandOutcome::Applied { .. })),
        "{confirmed:?}"
    );
    // b's cache is now stale (v4); If-Match with the real version must pass.
    let exact = CommandContext {
        expected_version: Some(5),
        ..CommandContext::default()
    };
    let cancelled = b
        .execute(
            order,
            &OrderCommand::CancelOrder { reason: "r".into() },
            &exact,
        )
        .await;
    assert!(
        matches!(cancelled, Ok(CommandOutcome::Applied { .. })),
        "{cancelled:?}"
    );
    // And a real mismatch is still a 412.
    let stale = CommandContext {
        expected_version: Some(5),
        ..CommandContext::default()
    };
    let r = a
        .execute(
            order,
            &OrderCommand::CancelOrder { reason: "r".into() },
            &stale,
        )
        .await;
    assert!(
        matches!(r, Err(CommandError::PreconditionFailed { current: 6, .. })),
        "{r:?}"
    );
}
