//! Order lines as several folds track them: the domain's line rules
//! (adding a sku again raises its quantity) applied to a plain list.

use orderflow_domain::OrderEvent;
use serde::{Deserialize, Serialize};

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
    pub fn total_minor(&self) -> i64 {
        self.quantity.saturating_mul(self.unit_price_minor)
    }
}

/// Applies a line event; returns whether `event` was one. `names`: keep
/// item names (costs memory and storage in folds that never show them).
pub(crate) fn apply_line_event(lines: &mut Vec<Line>, event: &OrderEvent, names: bool) -> bool {
    match event {
        OrderEvent::ItemAdded(e) => {
            match lines.iter_mut().find(|l| l.sku == e.sku.as_str()) {
                Some(l) => l.quantity = l.quantity.saturating_add(i64::from(e.quantity)),
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
    }
}

pub(crate) fn units(lines: &[Line]) -> i64 {
    lines.iter().map(|l| l.quantity).sum()
}

pub(crate) fn total_minor(lines: &[Line]) -> i64 {
    lines
        .iter()
        .map(Line::total_minor)
        .fold(0i64, i64::saturating_add)
}
