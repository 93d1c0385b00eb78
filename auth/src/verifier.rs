//! Bearer-token verification: from a compact JWT to a [`Principal`].

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode};
use serde::Deserialize;
use serde_json::Value;

use crate::config::{AuthConfig, AuthMode, ClaimPath, SigningAlgorithm};
use crate::error::{AuthError, ConfigError};
use crate::keys::KeyCache;
use crate::principal::{Principal, Role};
use crate::signing::unix_now;
use crate::token_cache::TokenCache;

/// The header fields we act on before the signature is checked.
#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

/// Verifies bearer tokens against the configured keys. Cheap to share:
/// put one `Arc<Verifier>` in each API's state.
#[derive(Debug)]
pub struct Verifier {
    keys: KeyCache,
    /// One validation per allowed algorithm: jsonwebtoken insists that
    /// every algorithm of a validation fits the key's family.
    validations: HashMap<SigningAlgorithm, Validation>,
    roles_claim: ClaimPath,
    customer_id_claim: ClaimPath,
    max_token_bytes: usize,
    leeway_secs: u64,
    verified: TokenCache,
    mode: AuthMode,
}

impl Verifier {
    /// Loads the keys (see [`KeyCache`] for what fails here) and, in
    /// development mode, says so loudly.
    pub async fn new(config: AuthConfig) -> Result<Verifier, ConfigError> {
        if config.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        let keys = KeyCache::load(&config).await?;
        let validations = config
            .algorithms
            .iter()
            .map(|alg| {
                let mut v = Validation::new(alg.jwt());
                v.leeway = config.leeway.as_secs();
                v.validate_exp = true;
                v.validate_nbf = true;
                v.validate_aud = true;
                v.set_issuer(&[&config.issuer]);
                v.set_audience(&[&config.audience]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                (*alg, v)
            })
            .collect();
        match config.mode {
            AuthMode::Development => tracing::warn!(
                issuer = %config.issuer,
                "AUTH DEVELOPMENT MODE: tokens are checked against the local development \
                 signing key, which anyone with this machine's files can use to sign any \
                 token. Set AUTH_JWKS_URL or AUTH_JWKS_FILE (with AUTH_ISSUER and \
                 AUTH_AUDIENCE) before exposing this service."
            ),
            AuthMode::Jwks => tracing::info!(
                jwks = %config.key_source.describe(),
                keys = keys.len(),
                issuer = %config.issuer,
                audience = %config.audience,
                "bearer tokens are verified against the JWKS"
            ),
        }
        Ok(Verifier {
            keys,
            validations,
            roles_claim: config.roles_claim,
            customer_id_claim: config.customer_id_claim,
            max_token_bytes: config.max_token_bytes,
            leeway_secs: config.leeway.as_secs(),
            verified: TokenCache::new(config.token_cache_entries),
            mode: config.mode,
        })
    }

    /// Development or a real JWKS; services report it in `/readyz`.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn is_development(&self) -> bool {
        self.mode == AuthMode::Development
    }

    /// How many times the key set was read (the first load included).
    pub fn key_fetches(&self) -> u64 {
        self.keys.fetches()
    }

    /// How many verifications were answered from the verified-token cache.
    pub fn cache_hits(&self) -> u64 {
        self.verified.hits()
    }

    /// Checks `token` (without the `Bearer ` prefix) and says who it is for.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > self.max_token_bytes {
            return Err(AuthError::TooLarge {
                max: self.max_token_bytes,
            });
        }
        let now = unix_now();
        if let Some(principal) = self.verified.get(token, now, self.keys.generation()) {
            return Ok(principal);
        }
        let header = read_header(token)?;
        let algorithm = SigningAlgorithm::from_name(&header.alg)
            .filter(|a| self.validations.contains_key(a))
            .ok_or(AuthError::UnsupportedAlgorithm)?;
        if header.crit.is_some() {
            return Err(AuthError::CriticalHeader);
        }
        let kid = header.kid.ok_or(AuthError::MissingKeyId)?;
        let (key, key_generation) = self.keys.get(&kid).await.ok_or(AuthError::UnknownKey)?;
        if key.algorithm != algorithm {
            return Err(AuthError::AlgorithmMismatch);
        }
        let validation = self
            .validations
            .get(&algorithm)
            .ok_or(AuthError::UnsupportedAlgorithm)?;
        let claims = decode::<Value>(token, &key.decoding, validation)
            .map_err(|e| map_jwt_error(e.kind()))?
            .claims;
        let principal = self.principal(&claims)?;
        // exp was checked above; a fractional one is simply not cached.
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            let valid_until = exp.saturating_add(self.leeway_secs);
            self.verified
                .insert(token, &principal, valid_until, key_generation, now);
        }
        Ok(principal)
    }

    fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::InvalidClaim("sub"))?
            .to_owned();
        let mut roles: Vec<Role> = match self.roles_claim.lookup(claims) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|s| s.parse().ok())
                .collect(),
            // Some providers put roles in one space-separated string.
            Some(Value::String(s)) => s
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect(),
            _ => Vec::new(),
        };
        roles.sort();
        roles.dedup();
        let customer_id = self
            .customer_id_claim
            .lookup(claims)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let client_id = ["azp", "client_id"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str))
            .map(str::to_owned);
        Ok(Principal {
            subject,
            roles,
            customer_id,
            client_id,
        })
    }
}

/// Decodes the protected header only, to pick the key; nothing in it is
/// trusted until the signature is verified with that key.
fn read_header(token: &str) -> Result<RawHeader, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| AuthError::Malformed)
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidAlgorithm => AuthError::AlgorithmMismatch,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(spec_claim(claim)),
        ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim(spec_claim(claim)),
        _ => AuthError::Malformed,
    }
}

/// The registered claim jsonwebtoken names, as a static string.
fn spec_claim(name: &str) -> &'static str {
    ["exp", "nbf", "iss", "aud", "sub"]
        .into_iter()
        .find(|c| *c == name)
        .unwrap_or("registered")
}
