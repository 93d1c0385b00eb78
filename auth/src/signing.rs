//! Signing keys and token minting: the development key behind
//! `orderflow token`, and the keys tests sign their tokens with.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes, spki::der::pem::LineEnding};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{EncodingKey, Header};
use rand::TryRngCore;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{DEV_AUDIENCE, DEV_ISSUER, SigningAlgorithm};
use crate::error::ConfigError;
use crate::principal::Role;

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the private key is unusable: {0}")]
    Key(String),
    #[error("cannot sign the token: {0}")]
    Sign(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// A private key with its `kid` and public JWK.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: SigningAlgorithm,
    kid: String,
    key: EncodingKey,
    public_jwk: Value,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A PKCS#8 (or, for RSA, PKCS#1) PEM private key. The `kid` is the
    /// key's RFC 7638 thumbprint, so the same file always has the same one.
    pub fn from_pem(algorithm: SigningAlgorithm, pem: &[u8]) -> Result<SigningKey, SigningError> {
        let key_error = |e: jsonwebtoken::errors::Error| SigningError::Key(e.to_string());
        let key = match algorithm {
            SigningAlgorithm::RS256 => EncodingKey::from_rsa_pem(pem),
            SigningAlgorithm::ES256 => EncodingKey::from_ec_pem(pem),
            SigningAlgorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        }
        .map_err(key_error)?;
        let jwk = Jwk::from_encoding_key(&key, algorithm.jwt()).map_err(key_error)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(key_error)?;
        let mut key = SigningKey {
            algorithm,
            kid: String::new(),
            key,
            public_jwk: Value::Null,
        };
        key.set_public_jwk(jwk, kid)?;
        Ok(key)
    }

    /// A fresh Ed25519 key (tests, and the development key's first run).
    pub fn generate_ed25519() -> Result<SigningKey, SigningError> {
        with_new_ed25519_pem(|pem| SigningKey::from_pem(SigningAlgorithm::EdDSA, pem))
    }

    /// The same key under another `kid` (tests of key lookup).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<SigningKey, SigningError> {
        let jwk: Jwk = serde_json::from_value(self.public_jwk.clone())
            .map_err(|e| SigningError::Key(e.to_string()))?;
        self.set_public_jwk(jwk, kid.into())?;
        Ok(self)
    }

    fn set_public_jwk(&mut self, mut jwk: Jwk, kid: String) -> Result<(), SigningError> {
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        self.public_jwk =
            serde_json::to_value(&jwk).map_err(|e| SigningError::Key(e.to_string()))?;
        self.kid = kid;
        Ok(())
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (`kty`, `kid`, `alg`, `use`, key material).
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// A JWK set holding only this key's public half.
    pub fn jwks(&self) -> Value {
        jwks(&[self])
    }
}

/// A JWK set of the keys' public halves, as a provider serves it.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>() })
}

/// Runs `f` on the PEM of a new Ed25519 key; the PEM is wiped afterwards.
fn with_new_ed25519_pem<T>(
    f: impl FnOnce(&[u8]) -> Result<T, SigningError>,
) -> Result<T, SigningError> {
    let mut secret_key = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut secret_key)
        .map_err(|e| SigningError::Random(e.to_string()))?;
    // PKCS#8 v1 (no public key inside): the form jsonwebtoken derives the
    // public JWK from.
    let pair = KeypairBytes {
        secret_key,
        public_key: None,
    };
    let pem = pair
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SigningError::Key(e.to_string()))?;
    f(pem.as_bytes())
}

/// Signs `claims` as a compact JWT with `key` (header `alg`, `kid`, `typ`).
pub fn mint(key: &SigningKey, claims: &impl Serialize) -> Result<String, SigningError> {
    let mut header = Header::new(key.algorithm.jwt());
    header.kid = Some(key.kid.clone());
    header.typ = Some("JWT".to_owned());
    jsonwebtoken::encode(&header, claims, &key.key).map_err(|e| SigningError::Sign(e.to_string()))
}

/// The claims of a development token, as `orderflow token` writes them.
#[derive(Debug, Clone, Serialize)]
pub struct TokenClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub roles: Vec<String>,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl TokenClaims {
    /// Claims the development verifier accepts, valid from now for `ttl`.
    pub fn development(sub: impl Into<String>, roles: &[Role], ttl: Duration) -> TokenClaims {
        let now = unix_now();
        TokenClaims {
            iss: DEV_ISSUER.to_owned(),
            aud: DEV_AUDIENCE.to_owned(),
            sub: sub.into(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl.as_secs()),
            client_id: None,
        }
    }
}

/// Seconds since the epoch; a clock before 1970 counts as 0.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The development signing key, kept in a file so tokens outlive restarts.
#[derive(Debug)]
pub struct DevKey {
    pub path: PathBuf,
    pub key: SigningKey,
    /// True when this call generated the file.
    pub created: bool,
}

impl DevKey {
    /// Reads the Ed25519 key at `path`, or generates it there (mode 0600)
    /// when the file does not exist. Two processes racing on a first run
    /// end up with the same key: the file appears atomically, complete.
    pub fn load_or_create(path: &Path) -> Result<DevKey, ConfigError> {
        let fail = |reason: String| ConfigError::DevKey {
            path: path.to_owned(),
            reason,
        };
        match std::fs::read(path) {
            Ok(pem) => return DevKey::parse(path, &pem, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let created = with_new_ed25519_pem(|pem| {
            write_new(path, pem).map_err(|e| SigningError::Key(e.to_string()))
        })
        .map_err(|e| fail(e.to_string()))?;
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        DevKey::parse(path, &pem, created)
    }

    fn parse(path: &Path, pem: &[u8], created: bool) -> Result<DevKey, ConfigError> {
        let key = SigningKey::from_pem(SigningAlgorithm::EdDSA, pem).map_err(|e| {
            ConfigError::DevKey {
                path: path.to_owned(),
                reason: format!(
                    "not an Ed25519 PKCS#8 PEM private key ({e}); delete it to have a new one generated"
                ),
            }
        })?;
        Ok(DevKey {
            path: path.to_owned(),
            key,
            created,
        })
    }
}

/// Writes `pem` to a private temporary file and links it into place, so
/// readers never see a partial key. Returns false when another process got
/// there first (its key wins).
fn write_new(path: &Path, pem: &[u8]) -> std::io::Result<bool> {
    let mut suffix = [0u8; 8];
    rand::rngs::OsRng
        .try_fill_bytes(&mut suffix)
        .map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp-{:016x}", u64::from_le_bytes(suffix)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(pem)?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}
