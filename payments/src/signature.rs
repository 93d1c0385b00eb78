//! The request signature both directions use, in the convention of
//! Stripe-like providers: a header `t=<unix seconds>,v1=<hex>` where `v1`
//! is HMAC-SHA256, keyed with the shared secret, of `"<t>.<body>"`. The
//! timestamp is inside the MAC so that a captured request cannot be
//! replayed once it is older than the tolerance window.
//!
//! Pure: the caller passes the current time in.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the signature (HTTP header names are
/// case-insensitive; this is the lower-case form `http` uses).
pub const SIGNATURE_HEADER: &str = "orderflow-signature";

/// How far a signature's timestamp may be from now, either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Longest header accepted: a timestamp and a handful of signatures (a
/// provider rotating its secret sends one per secret). Anything longer is
/// refused before any MAC is computed.
const MAX_HEADER_LEN: usize = 1024;
/// At most this many `v1` entries are tried.
const MAX_SIGNATURES: usize = 8;
/// Bytes of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// A secret shared with the payment provider. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Vec<u8>);

impl SharedSecret {
    /// `None` for an empty secret: an empty key would make every signature
    /// trivially forgeable, so it is treated as "not configured".
    pub fn new(secret: impl Into<Vec<u8>>) -> Option<SharedSecret> {
        let bytes = secret.into();
        (!bytes.is_empty()).then_some(SharedSecret(bytes))
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length (long ones are hashed first), so
        // this cannot fail; the fallback is never reached.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// The header value signing `body` at `unix_seconds`.
pub fn sign(secret: &SharedSecret, unix_seconds: i64, body: &[u8]) -> String {
    let t = unix_seconds.to_string();
    let tag = secret.mac(&t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Why a signature was refused. Each has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no Orderflow-Signature header")]
    Missing,
    #[error("the Orderflow-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("no signature in the Orderflow-Signature header matches the body")]
    Mismatch,
    #[error(
        "the signature's timestamp is {age_secs} s away from the server's clock; at most {tolerance_secs} s are accepted"
    )]
    Stale { age_secs: u64, tolerance_secs: u64 },
}

impl SignatureError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "signature.missing",
            Self::Malformed(_) => "signature.malformed",
            Self::Mismatch => "signature.mismatch",
            Self::Stale { .. } => "signature.stale",
        }
    }
}

/// Checks `header` (the raw header value, if any) against `body`. A valid
/// MAC is checked first and the timestamp second, so only an authentic
/// request learns that it was too old. Returns the signed timestamp.
pub fn verify(
    secret: &SharedSecret,
    header: Option<&str>,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let parsed = parse(header)?;
    let mac = secret.mac(parsed.timestamp_text, body);
    // `verify_slice` compares in constant time.
    let authentic = parsed
        .signatures
        .iter()
        .any(|tag| mac.clone().verify_slice(tag).is_ok());
    if !authentic {
        return Err(SignatureError::Mismatch);
    }
    let age_secs = now_unix.abs_diff(parsed.timestamp);
    if age_secs > tolerance.as_secs() {
        return Err(SignatureError::Stale {
            age_secs,
            tolerance_secs: tolerance.as_secs(),
        });
    }
    Ok(parsed.timestamp)
}

struct Parsed<'a> {
    timestamp: i64,
    /// The digits exactly as signed.
    timestamp_text: &'a str,
    signatures: Vec<[u8; TAG_LEN]>,
}

fn parse(header: &str) -> Result<Parsed<'_>, SignatureError> {
    use SignatureError::Malformed;
    if header.len() > MAX_HEADER_LEN {
        return Err(Malformed("longer than 1024 bytes"));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for element in header.split(',') {
        let (key, value) = element
            .trim()
            .split_once('=')
            .ok_or(Malformed("every element must be key=value"))?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(Malformed("more than one t="));
                }
                // Digits only: no sign, no spaces, and short enough for i64.
                if value.is_empty()
                    || value.len() > 12
                    || !value.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(Malformed("t must be unix seconds"));
                }
                let seconds = value
                    .parse::<i64>()
                    .map_err(|_| Malformed("t must be unix seconds"))?;
                timestamp = Some((seconds, value));
            }
            "v1" => {
                if signatures.len() == MAX_SIGNATURES {
                    return Err(Malformed("more than 8 v1 signatures"));
                }
                let mut tag = [0u8; TAG_LEN];
                hex::decode_to_slice(value, &mut tag)
                    .map_err(|_| Malformed("v1 must be 64 hex digits"))?;
                signatures.push(tag);
            }
            // Other schemes (a future v2, a test-mode v0) are skipped, so a
            // provider can add one before we understand it.
            _ => {}
        }
    }
    let (timestamp, timestamp_text) = timestamp.ok_or(Malformed("no t= timestamp"))?;
    if signatures.is_empty() {
        return Err(Malformed("no v1= signature"));
    }
    Ok(Parsed {
        timestamp,
        timestamp_text,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000;

    fn secret() -> SharedSecret {
        SharedSecret::new("whsec_test").unwrap()
    }

    fn check(header: Option<&str>, body: &[u8]) -> Result<i64, SignatureError> {
        verify(&secret(), header, body, NOW, DEFAULT_TOLERANCE)
    }

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let body = br#"{"notification_id":"n-1"}"#;
        let header = sign(&secret(), NOW - 10, body);
        assert!(header.starts_with(&format!("t={},v1=", NOW - 10)));
        assert_eq!(check(Some(&header), body), Ok(NOW - 10));
    }

    #[test]
    fn the_known_answer_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1780000000.{}' | openssl dgst -sha256 -hmac whsec_test
        let header = sign(&secret(), NOW, b"{}");
        assert_eq!(
            header,
            "t=1780000000,v1=b609026af9e57aacaa80bc40f33504841d55b898bf7a94ef9c45d964ea2171a4"
        );
    }

    #[test]
    fn another_body_secret_or_timestamp_does_not_verify() {
        let header = sign(&secret(), NOW, b"{\"a\":1}");
        assert_eq!(
            check(Some(&header), b"{\"a\":2}"),
            Err(SignatureError::Mismatch)
        );
        let other = sign(&SharedSecret::new("other").unwrap(), NOW, b"{}");
        assert_eq!(check(Some(&other), b"{}"), Err(SignatureError::Mismatch));
        // The timestamp is signed: moving it breaks the MAC.
        let moved = sign(&secret(), NOW, b"{}").replace(&format!("t={NOW}"), "t=1780000001");
        assert_eq!(check(Some(&moved), b"{}"), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_timestamp_outside_the_tolerance_is_stale_either_way() {
        for t in [NOW - 301, NOW + 301] {
            let header = sign(&secret(), t, b"{}");
            assert_eq!(
                check(Some(&header), b"{}"),
                Err(SignatureError::Stale {
                    age_secs: 301,
                    tolerance_secs: 300
                })
            );
        }
        let edge = sign(&secret(), NOW - 300, b"{}");
        assert!(check(Some(&edge), b"{}").is_ok());
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(check(None, b"{}"), Err(SignatureError::Missing));
        assert_eq!(SignatureError::Missing.code(), "signature.missing");
    }

    #[test]
    fn garbage_headers_are_malformed_not_panics() {
        let good_tag = "0".repeat(64);
        let long = format!("t={NOW},{}", "v1=00,".repeat(200));
        let many = format!("t={NOW}{}", format!(",v1={good_tag}").repeat(9));
        let cases = [
            "",
            "garbage",
            "t=,v1=00",
            &format!("v1={good_tag}"),
            &format!("t={NOW}"),
            &format!("t=-5,v1={good_tag}"),
            &format!("t=+5,v1={good_tag}"),
            &format!("t=99999999999999999999,v1={good_tag}"),
            &format!("t={NOW},t={NOW},v1={good_tag}"),
            &format!("t={NOW},v1=xyz"),
            &format!("t={NOW},v1={}", "0".repeat(62)),
            &format!("t={NOW},v1=é{}", "0".repeat(62)),
            &long,
            &many,
        ];
        for header in cases {
            let err = check(Some(header), b"{}").unwrap_err();
            assert!(
                matches!(err, SignatureError::Malformed(_)),
                "{header:?}: {err:?}"
            );
            assert_eq!(err.code(), "signature.malformed");
        }
    }

    #[test]
    fn any_of_several_signatures_and_unknown_schemes_are_accepted() {
        let good = sign(&secret(), NOW, b"{}");
        let tag = good.split("v1=").nth(1).unwrap();
        let header = format!("t={NOW}, v0=abc, v1={}, v1={tag}", "1".repeat(64));
        assert_eq!(check(Some(&header), b"{}"), Ok(NOW));
    }

    #[test]
    fn empty_secrets_are_refused_and_secrets_never_print() {
        assert!(SharedSecret::new("").is_none());
        assert_eq!(format!("{:?}", secret()), "SharedSecret(<redacted>)");
    }
}
