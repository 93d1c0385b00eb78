//! Keys the tests generate, claims, and a verifier on a real JWKS server.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use orderflow_auth::{
    AuthConfig, KeySource, SigningAlgorithm, SigningKey, Verifier, jwks, mint, unix_now,
};
use orderflow_testkit::JwksServer;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.test/realms/orderflow";
pub const AUDIENCE: &str = "orderflow-api";

/// RSA generation is slow in debug builds: one key per test binary.
pub fn rsa_key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(new_rsa_key).clone()
}

pub fn new_rsa_key() -> SigningKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::{Generate, PrivateKey};
    let key = PrivateKey::generate();
    let pem = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .expect("RSA key to PEM");
    SigningKey::from_pem(SigningAlgorithm::RS256, pem.as_bytes()).expect("RSA signing key")
}

pub fn ec_key() -> SigningKey {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::EncodePrivateKey;
    let key = p256::ecdsa::SigningKey::generate();
    let pem = key
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .expect("P-256 key to PEM");
    SigningKey::from_pem(SigningAlgorithm::ES256, pem.as_bytes()).expect("P-256 signing key")
}

pub fn ed_key() -> SigningKey {
    SigningKey::generate_ed25519().expect("Ed25519 key")
}

/// Claims the test verifiers accept: valid for five minutes.
pub fn claims(sub: &str, roles: &[&str]) -> Value {
    let now = unix_now();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "roles": roles,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    })
}

pub fn token(key: &SigningKey, claims: &Value) -> String {
    mint(key, claims).expect("sign the token")
}

/// A JWKS server with one key of each algorithm and a verifier fetching
/// from it.
pub struct Setup {
    pub server: JwksServer,
    pub verifier: Arc<Verifier>,
    pub rsa: SigningKey,
    pub ec: SigningKey,
    pub ed: SigningKey,
}

impl Setup {
    pub async fn new() -> Setup {
        Setup::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut AuthConfig)) -> Setup {
        let (rsa, ec, ed) = (rsa_key(), ec_key(), ed_key());
        let server = JwksServer::start(jwks(&[&rsa, &ec, &ed])).await;
        let mut config = AuthConfig::jwks(KeySource::Url(server.url()), ISSUER, AUDIENCE);
        adjust(&mut config);
        let verifier = Arc::new(Verifier::new(config).await.expect("verifier"));
        Setup {
            server,
            verifier,
            rsa,
            ec,
            ed,
        }
    }
}

/// base64url without padding, as in compact JWTs.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn short_interval(config: &mut AuthConfig) {
    config.refetch_interval = Duration::from_millis(300);
}
