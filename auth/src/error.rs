//! Why a request is not authenticated, and why the configuration is unusable.

use std::path::PathBuf;

/// Why a bearer token was not accepted. Every variant is a 401; the
/// messages carry nothing from the token, so they are safe to put into a
/// `WWW-Authenticate` header and a response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, or one for another scheme (RFC 6750 §3.1:
    /// then the challenge carries no error code).
    #[error("the request carries no bearer token")]
    Missing,
    #[error("the Authorization header is not of the form `Bearer <token>`")]
    MalformedHeader,
    #[error("the token is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted (accepted: RS256, ES256, EdDSA)")]
    UnsupportedAlgorithm,
    #[error("the token has critical header parameters this server does not understand")]
    CriticalHeader,
    #[error("the token names no signing key (`kid`)")]
    MissingKeyId,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's algorithm does not match its signing key")]
    AlgorithmMismatch,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    #[error("the token's `{0}` claim is malformed")]
    InvalidClaim(&'static str),
}

impl AuthError {
    /// Stable machine code, the problem's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "token.missing",
            AuthError::MalformedHeader => "token.malformed_header",
            AuthError::TooLarge { .. } => "token.too_large",
            AuthError::Malformed => "token.malformed",
            AuthError::UnsupportedAlgorithm => "token.unsupported_algorithm",
            AuthError::CriticalHeader => "token.critical_header",
            AuthError::MissingKeyId => "token.missing_kid",
            AuthError::UnknownKey => "token.unknown_key",
            AuthError::AlgorithmMismatch => "token.algorithm_mismatch",
            AuthError::BadSignature => "token.bad_signature",
            AuthError::Expired => "token.expired",
            AuthError::NotYetValid => "token.not_yet_valid",
            AuthError::WrongIssuer => "token.wrong_issuer",
            AuthError::WrongAudience => "token.wrong_audience",
            AuthError::MissingClaim(_) => "token.missing_claim",
            AuthError::InvalidClaim(_) => "token.invalid_claim",
        }
    }
}

/// Why an [`AuthConfig`](crate::AuthConfig) cannot be used; services refuse
/// to start on it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("set only one of AUTH_JWKS_URL and AUTH_JWKS_FILE")]
    TwoKeySources,
    #[error("{0} is required when a JWKS is configured")]
    Required(&'static str),
    #[error("the claim path `{0}` is empty or has an empty segment")]
    ClaimPath(String),
    #[error("the algorithm allowlist is empty")]
    NoAlgorithms,
    #[error("the JWKS at {source_name} is unusable: {reason}")]
    Jwks { source_name: String, reason: String },
    #[error("the JWKS at {source_name} has no usable signing key")]
    NoUsableKey { source_name: String },
    #[error("cannot build the HTTP client for the JWKS: {0}")]
    HttpClient(String),
    #[error("development signing key {path}: {reason}")]
    DevKey { path: PathBuf, reason: String },
}
