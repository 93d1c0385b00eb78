//! What a verifier trusts: where the keys come from, issuer, audience,
//! which claims hold roles and the customer id, and the limits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::error::ConfigError;
use crate::signing::{DevKey, SigningKey};

/// Clock skew tolerated on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// An unknown `kid` refetches the JWKS at most this often.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Tokens longer than this are refused before any parsing.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Verified tokens remembered (by hash) until they expire; 0 turns it off.
pub const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 10_000;
/// How long one JWKS fetch may take.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Where `orderflow up` and `orderflow token` keep the development key.
pub const DEFAULT_DEV_KEY_FILE: &str = ".orderflow/dev-signing-key.pem";
/// `iss` of development tokens.
pub const DEV_ISSUER: &str = "orderflow-dev";
/// `aud` of development tokens.
pub const DEV_AUDIENCE: &str = "orderflow";

/// The signature algorithms a token may use. Symmetric (HS*) and `none`
/// are deliberately absent: they cannot be expressed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlgorithm {
    pub const ALL: [SigningAlgorithm; 3] = [
        SigningAlgorithm::RS256,
        SigningAlgorithm::ES256,
        SigningAlgorithm::EdDSA,
    ];

    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 => "RS256",
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::EdDSA => "EdDSA",
        }
    }

    pub fn from_name(name: &str) -> Option<SigningAlgorithm> {
        SigningAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlgorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            SigningAlgorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            SigningAlgorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// A claim named by a dotted path (`realm_access.roles`). A claim whose
/// own name contains dots (Auth0's `https://example.com/roles`) is found
/// too: the whole path is tried as one name first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    full: String,
    segments: Vec<String>,
}

impl ClaimPath {
    pub fn parse(path: &str) -> Result<ClaimPath, ConfigError> {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(ConfigError::ClaimPath(path.to_owned()));
        }
        Ok(ClaimPath {
            full: path.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The value at this path in a claims object.
    pub fn lookup<'a>(&self, claims: &'a Value) -> Option<&'a Value> {
        if let Some(v) = claims.get(&self.full) {
            return Some(v);
        }
        self.segments
            .iter()
            .try_fold(claims, |value, segment| value.get(segment))
    }
}

/// Where the verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// An OIDC provider's `jwks_uri`; refetched on an unknown `kid`.
    Url(String),
    /// A JWKS file (e.g. a mounted secret); reread on an unknown `kid`.
    File(PathBuf),
    /// A fixed key set: the development key.
    Static(Value),
}

impl KeySource {
    /// How logs and errors name the source.
    pub fn describe(&self) -> String {
        match self {
            KeySource::Url(url) => url.clone(),
            KeySource::File(path) => path.display().to_string(),
            KeySource::Static(_) => "the development signing key".to_owned(),
        }
    }
}

/// Whether tokens come from a real provider or the local development key;
/// services show it in `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Jwks,
    Development,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Jwks => "jwks",
            AuthMode::Development => "development",
        }
    }
}

/// Everything a [`Verifier`](crate::Verifier) needs.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub key_source: KeySource,
    pub mode: AuthMode,
    /// The only accepted `iss`.
    pub issuer: String,
    /// `aud` must be, or contain, this.
    pub audience: String,
    pub roles_claim: ClaimPath,
    pub customer_id_claim: ClaimPath,
    pub leeway: Duration,
    pub refetch_interval: Duration,
    pub fetch_timeout: Duration,
    pub max_token_bytes: usize,
    pub algorithms: Vec<SigningAlgorithm>,
    /// Entries of the verified-token cache; 0 verifies every request anew.
    pub token_cache_entries: usize,
}

impl AuthConfig {
    /// A provider's keys with the default claims (`roles`, `sub`) and limits.
    pub fn jwks(
        key_source: KeySource,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> AuthConfig {
        AuthConfig {
            key_source,
            mode: AuthMode::Jwks,
            issuer: issuer.into(),
            audience: audience.into(),
            roles_claim: default_path("roles"),
            customer_id_claim: default_path("sub"),
            leeway: DEFAULT_LEEWAY,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            algorithms: SigningAlgorithm::ALL.to_vec(),
            token_cache_entries: DEFAULT_TOKEN_CACHE_ENTRIES,
        }
    }

    /// Trusts only `key`, with the claims `orderflow token` writes
    /// (`iss` [`DEV_ISSUER`], `aud` [`DEV_AUDIENCE`], `roles`, `sub`).
    pub fn development(key: &SigningKey) -> AuthConfig {
        AuthConfig {
            mode: AuthMode::Development,
            ..AuthConfig::jwks(KeySource::Static(key.jwks()), DEV_ISSUER, DEV_AUDIENCE)
        }
    }
}

fn default_path(name: &str) -> ClaimPath {
    ClaimPath {
        full: name.to_owned(),
        segments: vec![name.to_owned()],
    }
}

/// The operator's settings (environment / flags), before resolution.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwks_url: Option<String>,
    pub jwks_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub roles_claim: String,
    pub customer_id_claim: String,
    pub leeway: Duration,
    pub refetch_interval: Duration,
    pub dev_key_file: PathBuf,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            jwks_url: None,
            jwks_file: None,
            issuer: None,
            audience: None,
            roles_claim: "roles".to_owned(),
            customer_id_claim: "sub".to_owned(),
            leeway: DEFAULT_LEEWAY,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            dev_key_file: PathBuf::from(DEFAULT_DEV_KEY_FILE),
        }
    }
}

impl AuthSettings {
    /// A JWKS (URL or file) when one is configured — then the development
    /// key is not even read — else development mode with the key file,
    /// created on first use. There is no setting that turns checks off.
    pub fn resolve(&self) -> Result<AuthConfig, ConfigError> {
        let source = match (&self.jwks_url, &self.jwks_file) {
            (Some(_), Some(_)) => return Err(ConfigError::TwoKeySources),
            (Some(url), None) => Some(KeySource::Url(url.clone())),
            (None, Some(path)) => Some(KeySource::File(path.clone())),
            (None, None) => None,
        };
        let Some(source) = source else {
            let key = DevKey::load_or_create(&self.dev_key_file)?;
            return Ok(AuthConfig {
                leeway: self.leeway,
                ..AuthConfig::development(&key.key)
            });
        };
        let issuer = self
            .issuer
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::Required("AUTH_ISSUER"))?;
        let audience = self
            .audience
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::Required("AUTH_AUDIENCE"))?;
        Ok(AuthConfig {
            roles_claim: ClaimPath::parse(&self.roles_claim)?,
            customer_id_claim: ClaimPath::parse(&self.customer_id_claim)?,
            leeway: self.leeway,
            refetch_interval: self.refetch_interval,
            ..AuthConfig::jwks(source, issuer, audience)
        })
    }

    /// The development key file, for messages.
    pub fn dev_key_file(&self) -> &Path {
        &self.dev_key_file
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claim_paths_walk_objects_and_accept_dotted_names() {
        let claims = json!({
            "realm_access": { "roles": ["staff"] },
            "https://orderflow.example/roles": ["finance"],
        });
        let nested = ClaimPath::parse("realm_access.roles").unwrap();
        assert_eq!(nested.lookup(&claims), Some(&json!(["staff"])));
        let namespaced = ClaimPath::parse("https://orderflow.example/roles").unwrap();
        assert_eq!(namespaced.lookup(&claims), Some(&json!(["finance"])));
        assert_eq!(
            ClaimPath::parse("nope.roles").unwrap().lookup(&claims),
            None
        );
        assert!(ClaimPath::parse("").is_err());
        assert!(ClaimPath::parse("a..b").is_err());
    }

    #[test]
    fn a_jwks_needs_issuer_and_audience_and_only_one_source() {
        let mut settings = AuthSettings {
            jwks_url: Some("http://127.0.0.1:1/jwks".into()),
            ..AuthSettings::default()
        };
        assert!(matches!(
            settings.resolve(),
            Err(ConfigError::Required("AUTH_ISSUER"))
        ));
        settings.issuer = Some("https://idp".into());
        assert!(matches!(
            settings.resolve(),
            Err(ConfigError::Required("AUTH_AUDIENCE"))
        ));
        settings.audience = Some("orderflow".into());
        let config = settings.resolve().unwrap();
        assert_eq!(config.mode, AuthMode::Jwks);
        settings.jwks_file = Some("/tmp/jwks.json".into());
        assert!(matches!(
            settings.resolve(),
            Err(ConfigError::TwoKeySources)
        ));
    }
}
