//! The payment provider integration: signed notifications in (the
//! command API's `POST /webhooks/payments` checks them with
//! [`WebhookConfig`]), refunds out through [`Client`], which signs every
//! call, bounds it with a timeout, retries transient failures with
//! jittered backoff and stops calling a failing provider with a circuit
//! breaker. Callers (the fulfilment process manager) keep any refund that
//! did not go through and send it again later under the same refund id.

mod breaker;
mod config;
mod metrics;
mod provider;
mod signature;
mod webhook;

pub use breaker::{Breaker, BreakerConfig, BreakerState, Permit};
pub use config::{PaymentsConfig, ProviderConfig, RetryConfig};
pub use metrics::{BREAKER_STATE, CALL_DURATION, CALLS};
pub use provider::{
    Client, ClientBuildError, IDEMPOTENCY_KEY_HEADER, ProviderError, RefundReceipt, RefundRequest,
};
pub use signature::{
    DEFAULT_TOLERANCE, SIGNATURE_HEADER, SharedSecret, SignatureError, sign, verify,
};
pub use webhook::{WebhookConfig, WebhookError};
