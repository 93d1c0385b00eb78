//! The payment provider settings (flags and environment), turned into
//! `orderflow-payments`' [`PaymentsConfig`]: the webhook's secret for the
//! command API, and the refund client's URL, secret, timeout, retries and
//! breaker for whoever sends refunds. Secrets never show in `--help`.

use std::time::Duration;

use clap::Args;
use orderflow_payments::{
    BreakerConfig, DEFAULT_TOLERANCE, PaymentsConfig, ProviderConfig, RetryConfig, SharedSecret,
    WebhookConfig,
};

#[derive(Debug, Clone, Args)]
pub struct PaymentArgs {
    /// The secret the payment provider signs `POST /webhooks/payments` with
    /// (unset: every notification is refused).
    #[arg(long, env = "PAYMENT_WEBHOOK_SECRET", hide_env_values = true)]
    pub payment_webhook_secret: Option<String>,
    /// How old (or how far ahead) a notification's signed timestamp may be.
    #[arg(long, env = "PAYMENT_WEBHOOK_TOLERANCE_SECS",
        default_value_t = DEFAULT_TOLERANCE.as_secs())]
    pub payment_webhook_tolerance_secs: u64,
    /// The provider's base URL; refunds go to `<url>/refunds` (unset:
    /// refunds cannot be sent).
    #[arg(long, env = "PAYMENT_PROVIDER_URL", hide_env_values = true)]
    pub payment_provider_url: Option<String>,
    /// The secret outbound calls are signed with (unset: the webhook secret).
    #[arg(long, env = "PAYMENT_PROVIDER_SECRET", hide_env_values = true)]
    pub payment_provider_secret: Option<String>,
    /// Longest wait for one call to the provider.
    #[arg(long, env = "PAYMENT_PROVIDER_TIMEOUT_MS",
        default_value_t = millis(ProviderConfig::DEFAULT_CALL_TIMEOUT))]
    pub payment_provider_timeout_ms: u64,
    /// Retries of a failed call (jittered exponential backoff).
    #[arg(long, env = "PAYMENT_PROVIDER_RETRIES", default_value_t = RetryConfig::default().max_retries)]
    pub payment_provider_retries: u32,
    /// The first retry's delay; each later one doubles.
    #[arg(long, env = "PAYMENT_PROVIDER_BACKOFF_MS",
        default_value_t = millis(RetryConfig::default().min_delay))]
    pub payment_provider_backoff_ms: u64,
    /// The longest delay between retries.
    #[arg(long, env = "PAYMENT_PROVIDER_BACKOFF_MAX_MS",
        default_value_t = millis(RetryConfig::default().max_delay))]
    pub payment_provider_backoff_max_ms: u64,
    /// Consecutive failed calls that open the circuit breaker.
    #[arg(long, env = "PAYMENT_BREAKER_FAILURES",
        default_value_t = BreakerConfig::default().failure_threshold)]
    pub payment_breaker_failures: u32,
    /// How long the open breaker refuses calls before one probe may pass.
    #[arg(long, env = "PAYMENT_BREAKER_COOL_DOWN_MS",
        default_value_t = millis(BreakerConfig::default().cool_down))]
    pub payment_breaker_cool_down_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl PaymentArgs {
    pub fn config(&self) -> PaymentsConfig {
        let webhook_secret = self
            .payment_webhook_secret
            .clone()
            .and_then(SharedSecret::new);
        let provider_secret = self
            .payment_provider_secret
            .clone()
            .and_then(SharedSecret::new)
            .or_else(|| webhook_secret.clone());
        let url = self
            .payment_provider_url
            .clone()
            .filter(|u| !u.trim().is_empty());
        let provider = url
            .zip(provider_secret)
            .map(|(url, secret)| ProviderConfig {
                call_timeout: Duration::from_millis(self.payment_provider_timeout_ms),
                retry: RetryConfig {
                    max_retries: self.payment_provider_retries,
                    min_delay: Duration::from_millis(self.payment_provider_backoff_ms),
                    max_delay: Duration::from_millis(self.payment_provider_backoff_max_ms),
                },
                breaker: BreakerConfig {
                    failure_threshold: self.payment_breaker_failures,
                    cool_down: Duration::from_millis(self.payment_breaker_cool_down_ms),
                },
                ..ProviderConfig::new(url, secret)
            });
        PaymentsConfig {
            webhook: WebhookConfig {
                secret: webhook_secret,
                tolerance: Duration::from_secs(self.payment_webhook_tolerance_secs),
            },
            provider,
        }
    }
}
