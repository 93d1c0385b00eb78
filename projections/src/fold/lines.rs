//! Order lines as several folds track them: the domain's line rules
//! (adding a sku again raises its quantity) applied to a plain list.

use orderflow_domain::OrderEvent;
use serde::{Deserialize, Serialize};

use crate::error::FoldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Line {
    pub sku: String,
    /// Only the `orders` fold shows names; the sales folds leave it empty
    /// (and out of their stored state).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
}

impl Line {
    /// Exact: the product of two `i64`s always fits an `i128`.
    pub fn total_minor(&self) -> i128 {
        i128::from(self.quantity) * i128::from(self.unit_price_minor)
    }
}

/// Applies a line event; returns whether `event` was one. `names`: keep
/// item names (costs memory and storage in folds that never show them).
/// A quantity beyond `i64` is a fold error (never a silent clamp), so a
/// live fold and a rebuild fail on the same event.
pub(crate) fn apply_line_event(
    lines: &mut Vec<Line>,
    event: &OrderEvent,
    names: bool,
) -> Result<bool, FoldError> {
    Ok(match event {
        OrderEvent::ItemAdded(e) => {
            match lines.iter_mut().find(|l| l.sku == e.sku.as_str()) {
                Some(l) => {
                    l.quantity = l
                        .quantity
                        .checked_add(i64::from(e.quantity))
                        .ok_or_else(|| FoldError(format!("quantity of {} overflows", e.sku)))?;
                }
                None => lines.push(Line {
                    sku: e.sku.as_str().to_owned(),
                    name: if names { e.name.clone() } else { String::new() },
                    quantity: i64::from(e.quantity),
                    unit_price_minor: e.unit_price.amount_minor,
                }),
            }
            true
        }
        OrderEvent::ItemQuantityChanged(e) => {
            if let Some(l) = lines.iter_mut().find(|l| l.sku == e.sku.as_str()) {
                l.quantity = i64::from(e.quantity);
            }
            true
        }
        OrderEvent::ItemRemoved(e) => {
            lines.retain(|l| l.sku != e.sku.as_str());
            true
        }
        _ => false,
    })
}

/// Units of all lines; `None` past `i128` (never in practice).
pub(crate) fn units(lines: &[Line]) -> Option<i128> {
    lines
        .iter()
        .try_fold(0i128, |sum, l| sum.checked_add(i128::from(l.quantity)))
}

/// The lines' total; `None` past `i128`.
pub(crate) fn total_minor(lines: &[Line]) -> Option<i128> {
    lines
        .iter()
        .try_fold(0i128, |sum, l| sum.checked_add(l.total_minor()))
}
