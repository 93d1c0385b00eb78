//! What the instance acts on besides orders: the stock of a SKU and the
//! payment provider. Behind traits so the process manager is wired to the
//! inventory handler and the provider's client in one place (assembly),
//! and each can be replaced by a real HTTP fake in tests.

use std::time::Duration;

use async_trait::async_trait;
use orderflow_domain::OrderId;
use orderflow_domain::Sku;
use orderflow_domain::fulfilment::{Outcome, RequestRefund};
use uuid::Uuid;

/// A failure that should pass (store away, provider unreachable): the
/// instance keeps the command outstanding and issues it again later.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EffectError(pub String);

/// The inventory, as the instance uses it. Each call carries the step's
/// deterministic id, to be used as its idempotency key; every call must be
/// idempotent per (order, sku) besides.
#[async_trait]
pub trait StockPort: Send + Sync + 'static {
    /// Reserve `quantity` of `sku` for `order`: `Applied`, or `Refused`
    /// with the inventory's code when there is not enough.
    async fn reserve(
        &self,
        id: Uuid,
        order: OrderId,
        sku: &Sku,
        quantity: u32,
    ) -> Result<Outcome, EffectError>;
    /// Give back what `order` holds of `sku` (nothing held: a no-op).
    async fn release(&self, id: Uuid, order: OrderId, sku: &Sku) -> Result<Outcome, EffectError>;
    /// The reservation leaves the shelf (shipment).
    async fn commit(&self, id: Uuid, order: OrderId, sku: &Sku) -> Result<Outcome, EffectError>;
}

/// How the provider answered a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundAnswer {
    /// Paid back (or had been: the provider is idempotent by refund id).
    Confirmed,
    /// Not now (circuit open, outage): ask again after `retry_after`.
    Later { retry_after: Duration },
}

/// The payment provider, as the instance uses it.
#[async_trait]
pub trait RefundPort: Send + Sync + 'static {
    async fn refund(&self, order: OrderId, refund: &RequestRefund) -> RefundAnswer;

    /// The provider client's circuit-breaker state (`closed`, `open`,
    /// `half_open`), `None` without a provider; published for the console
    /// (`health.rs`).
    fn breaker_state(&self) -> Option<&'static str> {
        None
    }
}

/// Refunds when no provider is configured: every refund waits (and is
/// retried on its deadline), never dropped, until one is.
#[derive(Debug, Clone)]
pub struct NoProvider {
    pub retry_after: Duration,
}

#[async_trait]
impl RefundPort for NoProvider {
    async fn refund(&self, order: OrderId, refund: &RequestRefund) -> RefundAnswer {
        tracing::warn!(%order, refund_id = %refund.refund_id, "no payment provider configured; refund waits");
        RefundAnswer::Later {
            retry_after: self.retry_after,
        }
    }
}
