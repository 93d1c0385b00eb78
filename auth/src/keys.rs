//! The verification keys, by `kid`: read from a JWK set, cached, and
//! refetched when a token names a key we do not know — at most once per
//! interval, so a stream of made-up `kid`s cannot hammer the provider.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::{AuthConfig, KeySource, SigningAlgorithm};
use crate::error::ConfigError;

/// Largest JWKS document read; real ones are a few KiB.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// RSA keys below 2048 bits are refused (NIST SP 800-131A).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// base64url, with or without padding: providers differ.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One usable public key: its algorithm is fixed by its type, so a token
/// cannot pick another (no RS256/HS256 confusion).
#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub algorithm: SigningAlgorithm,
    pub decoding: DecodingKey,
}

type KeyMap = HashMap<String, Arc<KeyEntry>>;

/// The keys of one read of the source; `generation` counts the reads that
/// changed them, so results derived from older keys can be told apart.
#[derive(Debug, Default)]
struct KeySet {
    generation: u64,
    keys: KeyMap,
}

/// Reads the signing keys of a JWK set. Keys that are not for signatures,
/// of another type or curve, too weak, without a `kid`, or whose
/// algorithm the allowlist lacks, are skipped; the provider may publish
/// keys for other uses next to ours.
pub(crate) fn parse_jwks(jwks: &Value, allowed: &[SigningAlgorithm]) -> Result<KeyMap, String> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the document has no `keys` array")?;
    let mut map = KeyMap::new();
    for jwk in keys {
        let Some(kid) = jwk.get("kid").and_then(Value::as_str) else {
            tracing::debug!("JWKS key without `kid` skipped");
            continue;
        };
        match parse_jwk(jwk) {
            Ok(entry) if allowed.contains(&entry.algorithm) => {
                map.entry(kid.to_owned()).or_insert_with(|| Arc::new(entry));
            }
            Ok(entry) => {
                tracing::debug!(
                    kid,
                    alg = entry.algorithm.as_str(),
                    "JWKS key skipped: algorithm not allowed"
                );
            }
            Err(reason) => tracing::debug!(kid, reason, "JWKS key skipped"),
        }
    }
    Ok(map)
}

fn parse_jwk(jwk: &Value) -> Result<KeyEntry, &'static str> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| -> Result<Vec<u8>, &'static str> {
        let text = field(name).ok_or("key material missing")?;
        B64URL
            .decode(text)
            .map_err(|_| "key material is not base64url")
    };
    if field("use").is_some_and(|u| u != "sig") {
        return Err("not a signature key");
    }
    let (algorithm, decoding) = match field("kty") {
        Some("RSA") => {
            let n = bytes("n")?;
            let e = bytes("e")?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err("RSA modulus shorter than 2048 bits");
            }
            (
                SigningAlgorithm::RS256,
                DecodingKey::from_rsa_raw_components(&n, &e),
            )
        }
        Some("EC") => {
            if field("crv") != Some("P-256") {
                return Err("EC curve other than P-256");
            }
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates are not 32 bytes");
            }
            // Uncompressed SEC1 point, the form the verifier expects.
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (SigningAlgorithm::ES256, DecodingKey::from_ec_der(&point))
        }
        Some("OKP") => {
            if field("crv") != Some("Ed25519") {
                return Err("OKP curve other than Ed25519");
            }
            let x = bytes("x")?;
            if x.len() != 32 {
                return Err("Ed25519 public key is not 32 bytes");
            }
            (SigningAlgorithm::EdDSA, DecodingKey::from_ed_der(&x))
        }
        _ => return Err("key type other than RSA, EC, OKP"),
    };
    // A key that names its algorithm must name the one its type implies.
    if let Some(alg) = field("alg") {
        let same =
            alg == algorithm.as_str() || (algorithm == SigningAlgorithm::EdDSA && alg == "Ed25519");
        if !same {
            return Err("`alg` does not match the key type");
        }
    }
    Ok(KeyEntry {
        algorithm,
        decoding,
    })
}

/// The cache shared by every request a verifier serves.
#[derive(Debug)]
pub(crate) struct KeyCache {
    source: KeySource,
    allowed: Vec<SigningAlgorithm>,
    keys: RwLock<Arc<KeySet>>,
    /// When an unknown `kid` last refetched; the lock also makes
    /// concurrent misses wait for one fetch instead of each starting one.
    last_refetch: Mutex<Option<Instant>>,
    refetch_interval: Duration,
    http: Option<reqwest::Client>,
    fetches: AtomicU64,
}

impl KeyCache {
    /// Loads the keys once. A static set or a file that is unusable is a
    /// configuration error; an unreachable URL is not (the provider may
    /// come up after us), it is retried on the first token.
    pub async fn load(config: &AuthConfig) -> Result<KeyCache, ConfigError> {
        let http = match &config.key_source {
            KeySource::Url(_) => Some(
                reqwest::Client::builder()
                    .timeout(config.fetch_timeout)
                    .build()
                    .map_err(|e| ConfigError::HttpClient(e.to_string()))?,
            ),
            _ => None,
        };
        let cache = KeyCache {
            source: config.key_source.clone(),
            allowed: config.algorithms.clone(),
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_refetch: Mutex::new(None),
            refetch_interval: config.refetch_interval,
            http,
            fetches: AtomicU64::new(0),
        };
        match cache.fetch().await {
            Ok(keys) => cache.replace(keys),
            Err(reason) if matches!(cache.source, KeySource::Url(_)) => {
                tracing::warn!(
                    jwks = %cache.source.describe(),
                    %reason,
                    "JWKS not loaded; every token is refused until it is"
                );
            }
            Err(reason) => {
                return Err(ConfigError::Jwks {
                    source_name: cache.source.describe(),
                    reason,
                });
            }
        }
        Ok(cache)
    }

    /// How many times the keys were read from their source.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.snapshot().keys.len()
    }

    /// Changes whenever the key set does.
    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    fn snapshot(&self) -> Arc<KeySet> {
        // A poisoned lock only means a writer panicked between two whole
        // map swaps; the map inside is still a complete one.
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, keys: KeyMap) {
        let mut set = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *set = Arc::new(KeySet {
            generation: set.generation + 1,
            keys,
        });
    }

    fn lookup(&self, kid: &str) -> Option<(Arc<KeyEntry>, u64)> {
        let set = self.snapshot();
        set.keys.get(kid).map(|k| (k.clone(), set.generation))
    }

    /// The key for `kid` and the generation of the set it came from,
    /// refetching the set once if `kid` is unknown and the last refetch is
    /// older than the interval.
    pub async fn get(&self, kid: &str) -> Option<(Arc<KeyEntry>, u64)> {
        if let Some(found) = self.lookup(kid) {
            return Some(found);
        }
        if matches!(self.source, KeySource::Static(_)) {
            return None;
        }
        let mut last = self.last_refetch.lock().await;
        // Another request may have refetched while this one waited.
        if let Some(found) = self.lookup(kid) {
            return Some(found);
        }
        if last.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return None;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => self.replace(keys),
            // Keep the keys we have: a provider hiccup must not log
            // everyone out.
            Err(reason) => tracing::warn!(
                jwks = %self.source.describe(),
                %reason,
                "JWKS refetch failed; keeping the cached keys"
            ),
        }
        self.lookup(kid)
    }

    async fn fetch(&self) -> Result<KeyMap, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let document = match &self.source {
            KeySource::Static(jwks) => jwks.clone(),
            KeySource::File(path) => {
                let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
                if bytes.len() > MAX_JWKS_BYTES {
                    return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
                }
                serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?
            }
            KeySource::Url(url) => {
                let http = self.http.as_ref().ok_or("no HTTP client")?;
                fetch_url(http, url).await?
            }
        };
        let keys = parse_jwks(&document, &self.allowed)?;
        if keys.is_empty() {
            return Err("no usable signing key (RS256, ES256 or EdDSA with a `kid`)".to_owned());
        }
        Ok(keys)
    }
}

async fn fetch_url(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let mut response = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
    {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_signature_keys_of_allowed_types_are_kept() {
        let ed_x = B64URL.encode([7u8; 32]);
        let jwks = json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "x": ed_x, "kid": "ed" },
            { "kty": "OKP", "crv": "Ed25519", "x": ed_x, "kid": "enc", "use": "enc" },
            { "kty": "OKP", "crv": "Ed25519", "x": ed_x },
            { "kty": "OKP", "crv": "Ed25519", "x": B64URL.encode([7u8; 16]), "kid": "short" },
            { "kty": "OKP", "crv": "Ed25519", "x": ed_x, "kid": "rs", "alg": "RS256" },
            { "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" },
            { "kty": "RSA", "n": B64URL.encode([1u8; 128]), "e": "AQAB", "kid": "rsa1024" },
            { "kty": "EC", "crv": "P-384", "x": ed_x, "y": ed_x, "kid": "p384" },
        ]});
        let keys = parse_jwks(&jwks, &SigningAlgorithm::ALL).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["ed"]);
        let none = parse_jwks(&jwks, &[SigningAlgorithm::RS256]).unwrap();
        assert!(none.is_empty());
        assert!(parse_jwks(&json!({ "kty": "OKP" }), &SigningAlgorithm::ALL).is_err());
    }
}
