//! The key cache: an unknown `kid` refetches the JWKS once, then not again
//! within the interval; rotation is picked up; a provider outage keeps the
//! keys we have.

use std::sync::Arc;
use std::time::Duration;

use orderflow_auth::{AuthConfig, AuthError, ConfigError, KeySource, Verifier, jwks};
use orderflow_testkit::JwksServer;

use crate::support::{AUDIENCE, ISSUER, Setup, claims, ed_key, short_interval, token};

#[tokio::test]
async fn an_unknown_kid_refetches_once_then_is_rate_limited() {
    let s = Setup::new().await;
    assert_eq!(s.server.requests(), 1, "the initial load");
    let rotated = ed_key();
    let t = token(&rotated, &claims("customer-1", &["customer"]));

    assert_eq!(s.verifier.verify(&t).await, Err(AuthError::UnknownKey));
    assert_eq!(s.server.requests(), 2, "one refetch for the unknown kid");
    for _ in 0..5 {
        assert_eq!(s.verifier.verify(&t).await, Err(AuthError::UnknownKey));
    }
    assert_eq!(s.server.requests(), 2, "no more within the interval");

    // Even once the provider publishes it, the interval holds.
    s.server.set_jwks(jwks(&[&s.ed, &rotated]));
    assert_eq!(s.verifier.verify(&t).await, Err(AuthError::UnknownKey));
    assert_eq!(s.server.requests(), 2);
    // Known keys never wait for the provider.
    assert!(
        s.verifier
            .verify(&token(&s.ed, &claims("customer-1", &[])))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn concurrent_misses_share_one_refetch() {
    let s = Setup::new().await;
    let stranger = ed_key();
    let t = token(&stranger, &claims("mallory", &[]));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let verifier = s.verifier.clone();
            let t = t.clone();
            tokio::spawn(async move { verifier.verify(&t).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Err(AuthError::UnknownKey));
    }
    assert_eq!(s.server.requests(), 2);
    assert_eq!(s.verifier.key_fetches(), 2);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_the_interval() {
    let s = Setup::with(short_interval).await;
    let rotated = ed_key();
    let t = token(&rotated, &claims("customer-1", &["customer"]));
    assert_eq!(s.verifier.verify(&t).await, Err(AuthError::UnknownKey));
    s.server.set_jwks(jwks(&[&rotated]));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let p = s.verifier.verify(&t).await.unwrap();
    assert_eq!(p.subject, "customer-1");
    assert_eq!(s.server.requests(), 3);
    // The old keys were replaced by the provider's current set.
    let old = token(&s.ed, &claims("customer-1", &[]));
    assert_eq!(s.verifier.verify(&old).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn a_provider_outage_keeps_the_cached_keys() {
    let s = Setup::with(short_interval).await;
    s.server.set_failing(true);
    let stranger = token(&ed_key(), &claims("mallory", &[]));
    assert_eq!(
        s.verifier.verify(&stranger).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(s.server.requests(), 2, "the refetch was tried");
    let known = token(&s.rsa, &claims("customer-1", &["customer"]));
    assert!(s.verifier.verify(&known).await.is_ok());
}

#[tokio::test]
async fn a_provider_down_at_start_is_retried_on_the_first_token() {
    let key = ed_key();
    let server = JwksServer::start(jwks(&[&key])).await;
    server.set_failing(true);
    let config = AuthConfig::jwks(KeySource::Url(server.url()), ISSUER, AUDIENCE);
    let verifier = Arc::new(Verifier::new(config).await.expect("starts without keys"));
    server.set_failing(false);
    let p = verifier
        .verify(&token(&key, &claims("customer-1", &["customer"])))
        .await
        .unwrap();
    assert_eq!(p.subject, "customer-1");
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_jwks_file_is_read_at_start_and_on_unknown_kids() {
    let dir = std::env::temp_dir().join(format!("orderflow-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("jwks-{}.json", ed_key().kid()));
    let (first, second) = (ed_key(), ed_key());

    let missing = AuthConfig::jwks(KeySource::File(path.clone()), ISSUER, AUDIENCE);
    assert!(matches!(
        Verifier::new(missing).await,
        Err(ConfigError::Jwks { .. })
    ));

    std::fs::write(&path, jwks(&[&first]).to_string()).unwrap();
    let mut config = AuthConfig::jwks(KeySource::File(path.clone()), ISSUER, AUDIENCE);
    short_interval(&mut config);
    let verifier = Verifier::new(config).await.unwrap();
    assert!(
        verifier
            .verify(&token(&first, &claims("a", &[])))
            .await
            .is_ok()
    );
    // A rotated secret mounted in place of the old one.
    std::fs::write(&path, jwks(&[&first, &second]).to_string()).unwrap();
    assert!(
        verifier
            .verify(&token(&second, &claims("b", &[])))
            .await
            .is_ok()
    );
    std::fs::remove_file(&path).unwrap();
}
