//! The stock of a sku end to end: REST commands (and the inventory handler
//! the fulfilment process uses) through the relay and projector into the
//! `stock_levels` read model, which equals its rebuild.

use orderflow_command_api::{CommandContext, CommandOutcome, InventoryHandler};
use orderflow_domain::{InventoryCommand, OrderId, Sku};
use serde_json::json;
use uuid::Uuid;

use crate::support::{Stack, assert_same, dump, rebuilt};

/// The row of `sku` as `(on_hand, reserved, available, open, last_change,
/// stream_version)`.
async fn row(stack: &Stack, sku: &str) -> Option<(i64, i64, i64, i64, String, i64)> {
    sqlx::query_as(
        "SELECT on_hand, reserved, available, open_reservations, last_change, stream_version \
         FROM stock_levels WHERE sku = $1",
    )
    .bind(sku)
    .fetch_optional(&stack.read)
    .await
    .unwrap()
}

#[tokio::test]
async fn stock_levels_follow_the_commands_and_equal_a_rebuild() {
    let stack = Stack::start().await;
    let r = stack
        .rest(
            "/inventory/MUG-CER-1/receipts",
            Some(json!({ "quantity": 40 })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    stack.settle(r.position.as_deref().unwrap()).await;
    assert_eq!(
        row(&stack, "MUG-CER-1").await,
        Some((40, 0, 40, 0, "StockReceived".into(), 1))
    );

    // Reservations come from the fulfilment process, through the handler.
    let handler = InventoryHandler::new(stack.store());
    let sku = || Sku::new("MUG-CER-1").unwrap();
    let (a, b) = (OrderId::new(Uuid::now_v7()), OrderId::new(Uuid::now_v7()));
    let ctx = CommandContext::default();
    for (order, quantity) in [(a, 3), (b, 5)] {
        let reserve = InventoryCommand::Reserve {
            order_id: order,
            quantity,
        };
        handler.execute(sku(), &reserve, &ctx).await.unwrap();
    }
    let commit = InventoryCommand::Commit { order_id: a };
    let CommandOutcome::Applied { result, .. } =
        handler.execute(sku(), &commit, &ctx).await.unwrap()
    else {
        panic!("not applied");
    };
    stack.settle(&result.position.to_string()).await;
    assert_eq!(
        row(&stack, "MUG-CER-1").await,
        Some((37, 5, 32, 1, "ReservationCommitted".into(), 4))
    );

    // A count below the reserved units is refused and changes nothing.
    let r = stack
        .rest(
            "/inventory/MUG-CER-1/adjustments",
            Some(json!({ "on_hand": 4, "reason": "stocktake" })),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["code"], "inventory.below_reserved");
    let r = stack
        .rest(
            "/inventory/MUG-CER-1/adjustments",
            Some(json!({ "on_hand": 30, "reason": "stocktake: 7 missing" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let release = InventoryCommand::Release { order_id: b };
    handler.execute(sku(), &release, &ctx).await.unwrap();
    let r = stack
        .rest("/inventory/TEA-2/receipts", Some(json!({ "quantity": 3 })))
        .await;
    stack.settle(r.position.as_deref().unwrap()).await;
    assert_eq!(
        row(&stack, "MUG-CER-1").await,
        Some((30, 0, 30, 0, "StockReleased".into(), 6))
    );
    assert_eq!(
        row(&stack, "TEA-2").await,
        Some((3, 0, 3, 0, "StockReceived".into(), 1))
    );
    let last_position: String =
        sqlx::query_scalar("SELECT last_position FROM stock_levels WHERE sku = 'TEA-2'")
            .fetch_one(&stack.read)
            .await
            .unwrap();
    assert_eq!(last_position, r.position.unwrap());

    let live = dump(&stack.read).await;
    assert_eq!(live["stock_levels"].len(), 2);
    assert_same(&live, &rebuilt(&stack).await);
    stack.finish().await;
}
