//! Refunds through the payment provider's client (`orderflow-payments`):
//! its timeouts, retries and circuit breaker stay there; here every answer
//! becomes "paid" or "ask again later", so an open breaker or an outage
//! delays a refund and never drops it.

use std::time::Duration;

use async_trait::async_trait;
use orderflow_domain::OrderId;
use orderflow_domain::fulfilment::RequestRefund;
use orderflow_payments::{Client, ProviderError, RefundRequest};

use crate::ports::{RefundAnswer, RefundPort};

/// How much longer than a transient failure a refused refund waits: the
/// provider will refuse it again until someone looks (it is logged).
const REFUSED_BACKOFF_FACTOR: u32 = 20;

#[derive(Debug)]
pub struct ProviderRefunds {
    client: Client,
    /// Wait after a failure that names no time of its own.
    retry_after: Duration,
}

impl ProviderRefunds {
    pub fn new(client: Client, retry_after: Duration) -> ProviderRefunds {
        ProviderRefunds {
            client,
            retry_after,
        }
    }
}

#[async_trait]
impl RefundPort for ProviderRefunds {
    fn breaker_state(&self) -> Option<&'static str> {
        Some(self.client.breaker_state().as_str())
    }

    async fn refund(&self, order: OrderId, refund: &RequestRefund) -> RefundAnswer {
        let request = RefundRequest {
            // The step's deterministic id: the provider's idempotency key.
            refund_id: refund.refund_id.to_string(),
            order_id: order.to_string(),
            payment_reference: refund
                .payment_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            amount_minor: refund.amount.amount_minor,
            currency: refund.amount.currency.as_str().to_owned(),
        };
        match self.client.refund(&request).await {
            Ok(_) => RefundAnswer::Confirmed,
            Err(ProviderError::CircuitOpen { retry_after }) => RefundAnswer::Later { retry_after },
            Err(e @ ProviderError::Rejected { .. }) => {
                tracing::error!(%order, refund_id = %refund.refund_id, error = %e,
                    "the payment provider refused a refund; it stays owed and is asked again");
                RefundAnswer::Later {
                    retry_after: self.retry_after * REFUSED_BACKOFF_FACTOR,
                }
            }
            Err(e) => {
                tracing::warn!(%order, refund_id = %refund.refund_id, error = %e,
                    "refund not confirmed; asking again later");
                RefundAnswer::Later {
                    retry_after: self.retry_after,
                }
            }
        }
    }
}
