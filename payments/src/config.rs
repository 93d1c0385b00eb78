//! The integration's settings, with defaults that suit a provider on the
//! internet; tests shrink every duration to milliseconds.

use std::time::Duration;

use crate::breaker::BreakerConfig;
use crate::signature::SharedSecret;
use crate::webhook::WebhookConfig;

/// Bounded retries of one refund call, with jittered exponential delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts after the first (0: no retries).
    pub max_retries: u32,
    /// The first delay; each later one doubles, up to `max_delay`, and
    /// gets a random jitter of up to its own length so that many callers
    /// do not retry in lockstep.
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// The outbound side: where refunds go and how calls are guarded.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The provider's base URL; refunds are `POST {url}/refunds`.
    pub url: String,
    /// Signs every outbound request (the `Orderflow-Signature` header).
    pub secret: SharedSecret,
    /// Longest wait for one attempt, connection to last body byte.
    pub call_timeout: Duration,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

impl ProviderConfig {
    pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

    /// `url` and `secret` with every other setting at its default.
    pub fn new(url: impl Into<String>, secret: SharedSecret) -> ProviderConfig {
        ProviderConfig {
            url: url.into(),
            secret,
            call_timeout: Self::DEFAULT_CALL_TIMEOUT,
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Both sides, as the CLI assembles them. The provider side is `None`
/// without a provider URL (refunds then cannot be sent).
#[derive(Debug, Clone, Default)]
pub struct PaymentsConfig {
    pub webhook: WebhookConfig,
    pub provider: Option<ProviderConfig>,
}
