//! Outbound refunds. Each attempt is signed, bounded by a timeout and let
//! through by the circuit breaker; transient failures are retried a
//! bounded number of times with jittered exponential delays. The refund id
//! travels as the provider's idempotency key, so a retried or repeated
//! refund is paid out once however often it is sent.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::breaker::{Breaker, BreakerState};
use crate::config::ProviderConfig;
use crate::metrics::{self, Outcome};
use crate::signature::{SIGNATURE_HEADER, sign};
use crate::webhook::unix_seconds;

/// The header naming the refund to the provider: the same refund sent
/// twice is one refund.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Longest provider answer kept for an error message.
const MAX_ERROR_BODY: usize = 512;

/// A refund to ask the provider for; also the JSON body sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// Deterministic (derived by the caller from what the refund is for),
    /// so every retry, restart or racing twin names the same refund.
    pub refund_id: String,
    pub order_id: String,
    /// The provider's reference of the payment being refunded.
    pub payment_reference: String,
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
}

/// The provider accepted the refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReceipt {
    pub refund_id: String,
    /// The provider's own reference, when its answer names one.
    pub provider_reference: Option<String>,
    /// Attempts it took (1 without retries).
    pub attempts: u32,
}

/// Why a refund did not go through. Only [`ProviderError::Rejected`] is
/// final; for every other error the caller keeps the work and tries again
/// later (with the same refund id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The breaker is open: nothing was sent. Ask again after `retry_after`.
    #[error("the payment provider's circuit breaker is open; retry in {retry_after:?}")]
    CircuitOpen { retry_after: Duration },
    /// The last attempt got no answer within the call timeout.
    #[error("the payment provider did not answer in time ({attempts} attempts)")]
    Timeout { attempts: u32 },
    /// The provider failed (5xx, 408, 429) or could not be reached, on
    /// every attempt.
    #[error("the payment provider is unavailable after {attempts} attempts: {detail}")]
    Unavailable { attempts: u32, detail: String },
    /// The provider refused this refund (another 4xx); retrying the same
    /// request will not change that.
    #[error("the payment provider refused the refund ({status}): {body}")]
    Rejected { status: u16, body: String },
}

impl ProviderError {
    /// Whether the same refund may succeed later.
    pub fn is_transient(&self) -> bool {
        !matches!(self, ProviderError::Rejected { .. })
    }
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the payment provider's HTTP client: {0}")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// The provider's client; cheap to clone (clones share the breaker).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    refunds_url: String,
    config: Arc<ProviderConfig>,
    breaker: Arc<Breaker>,
}

/// How one attempt ended.
enum Attempt {
    Accepted(Option<String>),
    Timeout,
    Failed(String),
    Rejected { status: u16, body: String },
}

#[derive(Deserialize)]
struct ProviderAnswer {
    #[serde(default)]
    provider_refund_id: Option<String>,
}

impl Client {
    pub fn new(config: ProviderConfig) -> Result<Client, ClientBuildError> {
        metrics::describe();
        let http = reqwest::Client::builder()
            .build()
            .map_err(ClientBuildError)?;
        let breaker = Breaker::with_observer(
            config.breaker,
            Box::new(|state| {
                match state {
                    BreakerState::Open => {
                        tracing::warn!("payment provider circuit breaker opened")
                    }
                    BreakerState::HalfOpen => {
                        tracing::info!("payment provider circuit breaker half-open: probing")
                    }
                    BreakerState::Closed => {
                        tracing::info!("payment provider circuit breaker closed")
                    }
                }
                metrics::breaker_state(state);
            }),
        );
        Ok(Client {
            http,
            refunds_url: format!("{}/refunds", config.url.trim_end_matches('/')),
            config: Arc::new(config),
            breaker: Arc::new(breaker),
        })
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Asks the provider for `refund`. Retries transient failures within
    /// the configured bound; returns [`ProviderError::CircuitOpen`] at once
    /// while the breaker is open, before or between attempts.
    pub async fn refund(&self, refund: &RefundRequest) -> Result<RefundReceipt, ProviderError> {
        // Serialising a struct of strings and integers cannot fail.
        let body = serde_json::to_vec(refund).unwrap_or_default();
        let retry = self.config.retry;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.max_retries as usize)
            .with_jitter()
            .build();
        let mut attempts = 0;
        loop {
            let permit = match self.breaker.acquire(Instant::now()) {
                Ok(permit) => permit,
                Err(retry_after) => {
                    metrics::call(Outcome::CircuitOpen, None);
                    return Err(ProviderError::CircuitOpen { retry_after });
                }
            };
            attempts += 1;
            let started = Instant::now();
            let attempt = self.attempt(&refund.refund_id, &body).await;
            let took = started.elapsed();
            let last_error = match attempt {
                Attempt::Accepted(provider_reference) => {
                    permit.succeeded();
                    metrics::call(Outcome::Ok, Some(took));
                    return Ok(RefundReceipt {
                        refund_id: refund.refund_id.clone(),
                        provider_reference,
                        attempts,
                    });
                }
                Attempt::Rejected { status, body } => {
                    // The provider answered: it is up, whatever it thinks
                    // of this request.
                    permit.succeeded();
                    metrics::call(Outcome::Error, Some(took));
                    return Err(ProviderError::Rejected { status, body });
                }
                Attempt::Timeout => {
                    permit.failed(Instant::now());
                    metrics::call(Outcome::Timeout, Some(took));
                    ProviderError::Timeout { attempts }
                }
                Attempt::Failed(detail) => {
                    permit.failed(Instant::now());
                    metrics::call(Outcome::Error, Some(took));
                    ProviderError::Unavailable { attempts, detail }
                }
            };
            let Some(delay) = delays.next() else {
                return Err(last_error);
            };
            tracing::debug!(refund_id = %refund.refund_id, attempts, ?delay, error = %last_error,
                "refund attempt failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, refund_id: &str, body: &[u8]) -> Attempt {
        let signature = sign(&self.config.secret, unix_seconds(SystemTime::now()), body);
        let request = self
            .http
            .post(&self.refunds_url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(IDEMPOTENCY_KEY_HEADER, refund_id)
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_vec());
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        };
        match tokio::time::timeout(self.config.call_timeout, exchange).await {
            Err(_) => Attempt::Timeout,
            Ok(Err(e)) if e.is_timeout() => Attempt::Timeout,
            Ok(Err(e)) => Attempt::Failed(error_chain(&e)),
            Ok(Ok((status, text))) => classify(status, text),
        }
    }
}

fn classify(status: StatusCode, text: String) -> Attempt {
    if status.is_success() {
        let reference = serde_json::from_str::<ProviderAnswer>(&text)
            .ok()
            .and_then(|a| a.provider_refund_id);
        return Attempt::Accepted(reference);
    }
    let body = truncate(text);
    let transient = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    if transient {
        Attempt::Failed(format!("{status}: {body}"))
    } else {
        Attempt::Rejected {
            status: status.as_u16(),
            body,
        }
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_ERROR_BODY {
        let mut end = MAX_ERROR_BODY;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The error and its causes on one line (reqwest's own message is terse).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_status() {
        assert!(matches!(
            classify(StatusCode::OK, r#"{"provider_refund_id":"re_1"}"#.into()),
            Attempt::Accepted(Some(r)) if r == "re_1"
        ));
        assert!(matches!(
            classify(StatusCode::CREATED, "not json".into()),
            Attempt::Accepted(None)
        ));
        for transient in [500, 502, 503, 408, 429] {
            let status = StatusCode::from_u16(transient).unwrap();
            assert!(
                matches!(classify(status, String::new()), Attempt::Failed(_)),
                "{transient}"
            );
        }
        for final_ in [400, 401, 404, 409, 422] {
            let status = StatusCode::from_u16(final_).unwrap();
            assert!(
                matches!(classify(status, String::new()), Attempt::Rejected { status, .. } if status == final_),
                "{final_}"
            );
        }
    }

    #[test]
    fn long_error_bodies_are_cut_on_a_char_boundary() {
        let cut = truncate("é".repeat(400));
        assert!(cut.len() <= MAX_ERROR_BODY + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short".into()), "short");
    }

    #[test]
    fn only_a_refusal_is_final() {
        assert!(
            !ProviderError::Rejected {
                status: 400,
                body: String::new()
            }
            .is_transient()
        );
        assert!(ProviderError::Timeout { attempts: 1 }.is_transient());
        assert!(
            ProviderError::CircuitOpen {
                retry_after: Duration::ZERO
            }
            .is_transient()
        );
    }
}
