//! Per-order state shared by the sales folds: the currency and the lines,
//! kept only until the order is paid or ends unpaid. Refunds carry their own
//! currency, so nothing about an order is needed after that.

use orderflow_domain::{Currency, OrderEvent};
use serde::{Deserialize, Serialize};

use super::lines::{Line, apply_line_event};
use super::private::States;
use super::unknown_order;
use crate::decode::Decoded;
use crate::error::FoldError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SalesInfo {
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Line>,
}

/// Tracks creation and line events. Returns the order's state, removed from
/// the fold's memory and table, when `e` is its payment.
pub(crate) fn track(
    states: &mut States<SalesInfo>,
    e: &Decoded,
) -> Result<Option<SalesInfo>, FoldError> {
    match &e.event {
        OrderEvent::OrderCreated(c) => {
            states.insert(
                e.order_id,
                SalesInfo {
                    currency: c.currency,
                    lines: Vec::new(),
                },
            );
            Ok(None)
        }
        OrderEvent::ItemAdded(_)
        | OrderEvent::ItemQuantityChanged(_)
        | OrderEvent::ItemRemoved(_) => {
            let info = states
                .get_mut(&e.order_id)
                .ok_or_else(|| unknown_order(e))?;
            apply_line_event(&mut info.lines, &e.event, false)?;
            Ok(None)
        }
        OrderEvent::PaymentRecorded(_) => states
            .remove(&e.order_id)
            .map(Some)
            .ok_or_else(|| unknown_order(e)),
        // Ends without payment: nothing more to count for this order. (A
        // cancellation after payment finds nothing to remove.)
        OrderEvent::OrderCancelled(_) | OrderEvent::OrderRejected(_) => {
            states.remove(&e.order_id);
            Ok(None)
        }
        _ => Ok(None),
    }
}
