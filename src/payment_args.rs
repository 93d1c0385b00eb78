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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        payments: PaymentArgs,
    }

    fn parse(args: &[&str]) -> PaymentsConfig {
        let mut argv = vec!["orderflow"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .expect("arguments")
            .payments
            .config()
    }

    #[test]
    fn the_defaults_are_the_librarys() {
        let config = parse(&[
            "--payment-provider-url",
            "http://psp",
            "--payment-provider-secret",
            "s",
        ]);
        assert!(config.webhook.secret.is_none());
        assert_eq!(config.webhook.tolerance, DEFAULT_TOLERANCE);
        let provider = config.provider.expect("a provider");
        let library = ProviderConfig::new("http://psp", SharedSecret::new("s").expect("secret"));
        assert_eq!(provider.url, library.url);
        assert_eq!(provider.call_timeout, library.call_timeout);
        assert_eq!(provider.retry, library.retry);
        assert_eq!(provider.breaker, library.breaker);
    }

    #[test]
    fn the_provider_signs_with_the_webhook_secret_unless_told_otherwise() {
        let shared = parse(&[
            "--payment-webhook-secret",
            "w",
            "--payment-provider-url",
            "http://psp",
        ]);
        assert_eq!(
            shared.provider.expect("a provider").secret,
            SharedSecret::new("w").expect("secret")
        );
        let own = parse(&[
            "--payment-webhook-secret",
            "w",
            "--payment-provider-secret",
            "p",
            "--payment-provider-url",
            "http://psp",
        ]);
        assert_eq!(
            own.provider.expect("a provider").secret,
            SharedSecret::new("p").expect("secret")
        );
    }

    #[test]
    fn without_a_url_or_any_secret_there_is_no_provider() {
        assert!(parse(&["--payment-webhook-secret", "w"]).provider.is_none());
        assert!(
            parse(&["--payment-provider-url", "http://psp"])
                .provider
                .is_none()
        );
        assert!(
            parse(&["--payment-webhook-secret", ""])
                .webhook
                .secret
                .is_none(),
            "empty is unset"
        );
    }
}
