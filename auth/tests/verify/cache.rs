//! The verified-token cache: the same token is checked once, yet still
//! expires on time and dies with a withdrawn key.

use std::time::Duration;

use orderflow_auth::{AuthError, jwks, unix_now};
use serde_json::json;

use crate::support::{Setup, claims, ed_key, short_interval, token};

#[tokio::test]
async fn a_token_is_verified_once_then_served_from_the_cache() {
    let s = Setup::new().await;
    let t = token(&s.rsa, &claims("customer-1", &["customer"]));
    let first = s.verifier.verify(&t).await.unwrap();
    assert_eq!(s.verifier.cache_hits(), 0);
    for _ in 0..3 {
        assert_eq!(s.verifier.verify(&t).await.unwrap(), first);
    }
    assert_eq!(s.verifier.cache_hits(), 3);
    // Another token of the same subject is verified on its own.
    let other = token(&s.rsa, &claims("customer-1", &["customer", "staff"]));
    assert_eq!(s.verifier.verify(&other).await.unwrap().roles.len(), 2);
    assert_eq!(s.verifier.cache_hits(), 3);
}

#[tokio::test]
async fn a_cached_token_still_expires() {
    let s = Setup::with(|c| c.leeway = Duration::ZERO).await;
    let mut c = claims("customer-1", &["customer"]);
    c["exp"] = json!(unix_now() + 1);
    let t = token(&s.ed, &c);
    assert!(s.verifier.verify(&t).await.is_ok());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(s.verifier.verify(&t).await, Err(AuthError::Expired));
}

#[tokio::test]
async fn a_withdrawn_key_ends_its_cached_tokens() {
    let s = Setup::with(short_interval).await;
    let t = token(&s.ed, &claims("customer-1", &["customer"]));
    assert!(s.verifier.verify(&t).await.is_ok());
    assert!(s.verifier.verify(&t).await.is_ok());
    assert_eq!(s.verifier.cache_hits(), 1);
    // The provider withdraws the Ed25519 key; a token under a new kid
    // makes the verifier read the set again.
    s.server.set_jwks(jwks(&[&s.rsa, &s.ec]));
    let stranger = token(&ed_key(), &claims("x", &[]));
    assert_eq!(
        s.verifier.verify(&stranger).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(s.verifier.verify(&t).await, Err(AuthError::UnknownKey));
    assert_eq!(s.verifier.cache_hits(), 1);
}
