//! Development mode: the key file, the tokens `orderflow token` mints, and
//! that a configured JWKS never falls back to the development key.

use std::path::PathBuf;
use std::time::Duration;

use orderflow_auth::{
    AuthError, AuthMode, AuthSettings, ConfigError, DevKey, Role, TokenClaims, Verifier, mint,
};

use crate::support::{ed_key, token};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "orderflow-auth-dev-{}-{name}-{}",
        std::process::id(),
        ed_key().kid()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn the_key_file_is_created_once_private_and_reused() {
    let dir = scratch("create");
    let path = dir.join(".orderflow/dev-signing-key.pem");
    let first = DevKey::load_or_create(&path).unwrap();
    assert!(first.created);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = DevKey::load_or_create(&path).unwrap();
    assert!(!again.created);
    assert_eq!(first.key.kid(), again.key.kid());
    // Only the key file is left behind, no temporary ones.
    let entries = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(entries, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn racing_first_runs_agree_on_one_key() {
    let dir = scratch("race");
    let path = dir.join("key.pem");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || DevKey::load_or_create(&path).unwrap())
        })
        .collect();
    let keys: Vec<DevKey> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(keys.iter().filter(|k| k.created).count(), 1);
    assert!(keys.iter().all(|k| k.key.kid() == keys[0].key.kid()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_corrupt_key_file_is_a_config_error_naming_the_file() {
    let dir = scratch("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("key.pem");
    std::fs::write(
        &path,
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let error = DevKey::load_or_create(&path).unwrap_err();
    assert!(matches!(error, ConfigError::DevKey { .. }));
    assert!(error.to_string().contains("key.pem"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn without_a_jwks_development_tokens_are_accepted_and_announced() {
    let dir = scratch("mode");
    let settings = AuthSettings {
        dev_key_file: dir.join("key.pem"),
        ..AuthSettings::default()
    };
    let config = settings.resolve().unwrap();
    assert_eq!(config.mode, AuthMode::Development);
    let verifier = Verifier::new(config).await.unwrap();
    assert!(verifier.is_development());
    assert_eq!(verifier.mode().as_str(), "development");

    let key = DevKey::load_or_create(&settings.dev_key_file).unwrap().key;
    let claims =
        TokenClaims::development("customer-42", &[Role::Customer], Duration::from_secs(3600));
    let p = verifier
        .verify(&mint(&key, &claims).unwrap())
        .await
        .unwrap();
    assert_eq!(p.subject, "customer-42");
    assert_eq!(p.customer_id.as_deref(), Some("customer-42"));
    assert_eq!(p.roles, vec![Role::Customer]);

    // Another key's token, even with the development claims, is refused.
    let stranger = token(&ed_key(), &serde_json::to_value(&claims).unwrap());
    assert_eq!(verifier.verify(&stranger).await, Err(AuthError::UnknownKey));
    // A zero TTL is expired once the leeway has passed; here: within it.
    let short = TokenClaims::development("c", &[], Duration::ZERO);
    assert!(verifier.verify(&mint(&key, &short).unwrap()).await.is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_configured_jwks_never_touches_the_development_key() {
    let dir = scratch("jwks");
    let settings = AuthSettings {
        jwks_url: Some("http://127.0.0.1:9/jwks.json".into()),
        issuer: Some("https://idp.test".into()),
        audience: Some("orderflow".into()),
        dev_key_file: dir.join("key.pem"),
        ..AuthSettings::default()
    };
    let config = settings.resolve().unwrap();
    assert_eq!(config.mode, AuthMode::Jwks);
    assert!(!dir.exists(), "the development key must not be created");
}
