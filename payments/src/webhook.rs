//! Inbound notifications: who may send them (whoever holds the webhook
//! secret) and how fresh they must be. The HTTP route lives in the
//! command API; this is the check it runs on the raw body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::signature::{self, DEFAULT_TOLERANCE, SharedSecret, SignatureError};

/// The inbound side's settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The secret the provider signs notifications with. Without one every
    /// notification is refused: an unsigned webhook would let anyone mark
    /// orders paid.
    pub secret: Option<SharedSecret>,
    /// How far a notification's signed timestamp may be from now.
    pub tolerance: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            secret: None,
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// Why a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("payment notifications are refused: no webhook secret is configured")]
    NotConfigured,
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl WebhookError {
    /// Stable machine code, e.g. `signature.stale`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "signature.not_configured",
            Self::Signature(e) => e.code(),
        }
    }
}

impl WebhookConfig {
    /// Checks a notification's signature header against its raw body at
    /// `now`.
    pub fn verify_at(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), WebhookError> {
        let secret = self.secret.as_ref().ok_or(WebhookError::NotConfigured)?;
        signature::verify(secret, header, body, unix_seconds(now), self.tolerance)?;
        Ok(())
    }

    /// [`verify_at`](Self::verify_at) on the system clock.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
        self.verify_at(header, body, SystemTime::now())
    }
}

/// Seconds since the epoch; a clock before 1970 reads as negative.
pub(crate) fn unix_seconds(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::sign;

    #[test]
    fn without_a_secret_everything_is_refused() {
        let config = WebhookConfig::default();
        let err = config.verify(Some("t=1,v1=00"), b"{}").unwrap_err();
        assert_eq!(err, WebhookError::NotConfigured);
        assert_eq!(err.code(), "signature.not_configured");
    }

    #[test]
    fn a_fresh_signature_passes_and_an_old_one_does_not() {
        let secret = SharedSecret::new("s3cret").unwrap();
        let config = WebhookConfig {
            secret: Some(secret.clone()),
            tolerance: Duration::from_secs(60),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let fresh = sign(&secret, 1_800_000_000 - 59, b"{}");
        assert_eq!(config.verify_at(Some(&fresh), b"{}", now), Ok(()));
        let old = sign(&secret, 1_800_000_000 - 61, b"{}");
        let err = config.verify_at(Some(&old), b"{}", now).unwrap_err();
        assert_eq!(err.code(), "signature.stale");
    }

    #[test]
    fn unix_seconds_of_the_system_clock() {
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}
