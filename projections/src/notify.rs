//! Change notices after each committed batch, for the query side's
//! read-your-writes waits and subscriptions. Best effort: a lost notice
//! only delays a waiter until its next check of the checkpoint.

use orderflow_event_store::Position;
use orderflow_wire::notices::{OrderNotice, ProjectionNotice, order_subject, projection_subject};
use uuid::Uuid;

/// `orders`: each changed order with the position of its own last event,
/// which its row stores (`last_position`): a subscriber waits for the row to
/// reach its notice's position, so a later position (the batch's end) would
/// make it re-read for nothing. `position`: the projection's checkpoint.
pub(crate) fn publish_changes(
    client: &async_nats::Client,
    prefix: &str,
    projection: &str,
    orders: &[(Uuid, Position)],
    position: Position,
) {
    let client = client.clone();
    let prefix = prefix.to_owned();
    let projection = projection.to_owned();
    // Per-order notices come from the `orders` projection only: it is the one
    // every order view reads, and one notice per order keeps traffic small.
    let orders: Vec<(Uuid, Position)> = if projection == "orders" {
        orders.to_vec()
    } else {
        Vec::new()
    };
    tokio::spawn(async move {
        for (order_id, order_position) in orders {
            let body = OrderNotice {
                order_id,
                position: order_position,
            };
            let _ = client
                .publish(order_subject(&prefix, order_id), json(&body).into())
                .await;
        }
        let subject = projection_subject(&prefix, &projection);
        let body = ProjectionNotice {
            projection,
            position,
        };
        let _ = client.publish(subject, json(&body).into()).await;
    });
}

/// A notice's body (a derived `Serialize` of plain fields cannot fail).
fn json(notice: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(notice).unwrap_or_default()
}
