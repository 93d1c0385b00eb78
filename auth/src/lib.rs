//! Authentication for orderflow's APIs, as an OAuth 2.0 resource server:
//! bearer JWTs verified locally against a JWKS (RS256, ES256, EdDSA),
//! mapped to a [`Principal`] with orderflow [`Role`]s.
//!
//! Wiring an API takes a few lines: build a [`Verifier`] from
//! [`AuthSettings::resolve`], keep an `Arc<Verifier>` in the router state
//! (with `FromRef`), and take a `Principal` argument in each handler; a
//! missing or bad token is answered with [`unauthorized_response`], a role
//! that may not act with [`forbidden_response`].
//!
//! Rate limits per subject or client IP are a layer: [`RateLimiter::wrap`].
//!
//! Without a JWKS the verifier runs in development mode on a local key
//! file ([`DevKey`]), announced with a `warn!` and [`Verifier::mode`].

mod config;
mod error;
mod extract;
mod keys;
mod principal;
mod problem;
mod rate_limit;
mod signing;
mod token_cache;
mod verifier;

pub use config::{
    AuthConfig, AuthMode, AuthSettings, ClaimPath, DEFAULT_DEV_KEY_FILE, DEFAULT_FETCH_TIMEOUT,
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_REFETCH_INTERVAL, DEFAULT_TOKEN_CACHE_ENTRIES,
    DEV_AUDIENCE, DEV_ISSUER, KeySource, SigningAlgorithm,
};
pub use error::{AuthError, ConfigError};
pub use extract::bearer_token;
pub use principal::{Forbidden, Principal, Role, UnknownRole};
pub use problem::{
    FORBIDDEN_TYPE, REALM, UNAUTHORIZED_TYPE, forbidden_response, unauthorized_response,
};
pub use rate_limit::{
    DEFAULT_ANONYMOUS, DEFAULT_CUSTOMER, DEFAULT_EVICT_EVERY, DEFAULT_FINANCE, DEFAULT_OPERATOR,
    DEFAULT_STAFF, Limit, LimitParseError, RATE_LIMITED_TYPE, RateLimitConfig, RateLimiter,
    UNLIMITED_PATHS,
};
pub use signing::{DevKey, SigningError, SigningKey, TokenClaims, jwks, mint, unix_now};
pub use verifier::Verifier;
