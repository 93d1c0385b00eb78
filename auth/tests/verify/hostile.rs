//! Tokens an attacker would try: each is refused with its own error, and
//! none panics.

use jsonwebtoken::{EncodingKey, Header};
use orderflow_auth::{AuthError, unix_now};
use serde_json::json;

use crate::support::{AUDIENCE, Setup, b64, claims, ed_key, token};

#[tokio::test]
async fn alg_none_is_refused() {
    let s = Setup::new().await;
    let header = json!({ "alg": "none", "typ": "JWT", "kid": s.ed.kid() });
    let payload = claims("mallory", &["operator"]);
    for signature in ["", "AAAA"] {
        let forged = format!(
            "{}.{}.{signature}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        assert_eq!(
            s.verifier.verify(&forged).await,
            Err(AuthError::UnsupportedAlgorithm)
        );
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let s = Setup::new().await;
    // The classic confusion: the public key (as a verifier holding only
    // public keys would see it) used as an HMAC secret.
    let public = s.rsa.public_jwk().to_string();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(s.rsa.kid().to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &claims("mallory", &["operator"]),
        &EncodingKey::from_secret(public.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        s.verifier.verify(&forged).await,
        Err(AuthError::UnsupportedAlgorithm)
    );
}

#[tokio::test]
async fn an_allowed_alg_that_does_not_fit_the_key_is_refused() {
    let s = Setup::new().await;
    // Signed with the Ed25519 key, but claiming RS256 under the RSA key's
    // kid, and under its own kid.
    let valid = token(&s.ed, &claims("mallory", &["staff"]));
    let (_, rest) = valid.split_once('.').unwrap();
    for kid in [s.rsa.kid(), s.ed.kid()] {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
        let forged = format!("{}.{rest}", b64(header.to_string().as_bytes()));
        let refused = s.verifier.verify(&forged).await;
        let expected = if kid == s.rsa.kid() {
            AuthError::BadSignature
        } else {
            AuthError::AlgorithmMismatch
        };
        assert_eq!(refused, Err(expected), "kid {kid}");
    }
}

#[tokio::test]
async fn expired_tokens_are_refused_beyond_the_leeway() {
    let s = Setup::new().await;
    let now = unix_now();
    let mut c = claims("customer-1", &["customer"]);
    c["exp"] = json!(now - 120);
    assert_eq!(
        s.verifier.verify(&token(&s.ed, &c)).await,
        Err(AuthError::Expired)
    );
    // Within the 30 s leeway: a clock a little behind the issuer's.
    c["exp"] = json!(now - 10);
    assert!(s.verifier.verify(&token(&s.ed, &c)).await.is_ok());
}

#[tokio::test]
async fn tokens_not_yet_valid_are_refused_beyond_the_leeway() {
    let s = Setup::new().await;
    let now = unix_now();
    let mut c = claims("customer-1", &["customer"]);
    c["nbf"] = json!(now + 120);
    assert_eq!(
        s.verifier.verify(&token(&s.ec, &c)).await,
        Err(AuthError::NotYetValid)
    );
    c["nbf"] = json!(now + 10);
    assert!(s.verifier.verify(&token(&s.ec, &c)).await.is_ok());
}

#[tokio::test]
async fn wrong_issuer_or_audience_is_refused() {
    let s = Setup::new().await;
    let mut c = claims("customer-1", &["customer"]);
    c["iss"] = json!("https://evil.test");
    assert_eq!(
        s.verifier.verify(&token(&s.rsa, &c)).await,
        Err(AuthError::WrongIssuer)
    );
    let mut c = claims("customer-1", &["customer"]);
    c["aud"] = json!("another-api");
    assert_eq!(
        s.verifier.verify(&token(&s.rsa, &c)).await,
        Err(AuthError::WrongAudience)
    );
    c["aud"] = json!(["another-api", AUDIENCE]);
    assert!(s.verifier.verify(&token(&s.rsa, &c)).await.is_ok());
}

#[tokio::test]
async fn registered_claims_are_required() {
    let s = Setup::new().await;
    for (claim, error) in [
        ("exp", AuthError::MissingClaim("exp")),
        ("iss", AuthError::MissingClaim("iss")),
        ("aud", AuthError::MissingClaim("aud")),
        ("sub", AuthError::MissingClaim("sub")),
    ] {
        let mut c = claims("customer-1", &["customer"]);
        c.as_object_mut().unwrap().remove(claim);
        assert_eq!(
            s.verifier.verify(&token(&s.ed, &c)).await,
            Err(error),
            "without {claim}"
        );
    }
    let mut c = claims("customer-1", &["customer"]);
    c["exp"] = json!("tomorrow");
    // jsonwebtoken counts an unreadable `exp` as absent.
    assert!(matches!(
        s.verifier.verify(&token(&s.ed, &c)).await,
        Err(AuthError::MissingClaim("exp") | AuthError::InvalidClaim("exp"))
    ));
    let mut c = claims("customer-1", &["customer"]);
    c["sub"] = json!(42);
    assert!(s.verifier.verify(&token(&s.ed, &c)).await.is_err());
}

#[tokio::test]
async fn a_key_the_provider_does_not_publish_is_unknown() {
    let s = Setup::new().await;
    let stranger = ed_key();
    assert_eq!(
        s.verifier
            .verify(&token(&stranger, &claims("mallory", &["operator"])))
            .await,
        Err(AuthError::UnknownKey)
    );
    // The stranger's signature under a published kid.
    let impostor = stranger.with_kid(s.ed.kid()).unwrap();
    assert_eq!(
        s.verifier
            .verify(&token(&impostor, &claims("mallory", &["operator"])))
            .await,
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn a_tampered_payload_breaks_the_signature() {
    let s = Setup::new().await;
    for key in [&s.rsa, &s.ec, &s.ed] {
        let valid = token(key, &claims("customer-1", &["customer"]));
        let parts: Vec<&str> = valid.split('.').collect();
        let promoted = claims("customer-1", &["customer", "operator"]);
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(promoted.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            s.verifier.verify(&forged).await,
            Err(AuthError::BadSignature),
            "{:?}",
            key.algorithm()
        );
    }
}

#[tokio::test]
async fn huge_tokens_are_refused_before_parsing() {
    let s = Setup::new().await;
    let mut c = claims("customer-1", &["customer"]);
    c["padding"] = json!("x".repeat(9 * 1024));
    let big = token(&s.ed, &c);
    assert_eq!(
        s.verifier.verify(&big).await,
        Err(AuthError::TooLarge { max: 8192 })
    );
    // Not even a JWT: the size check comes first.
    let junk = "a".repeat(1024 * 1024);
    assert_eq!(
        s.verifier.verify(&junk).await,
        Err(AuthError::TooLarge { max: 8192 })
    );
}

#[tokio::test]
async fn headers_without_kid_or_with_crit_are_refused() {
    let s = Setup::new().await;
    let valid = token(&s.ed, &claims("customer-1", &["customer"]));
    let (_, rest) = valid.split_once('.').unwrap();
    let no_kid = json!({ "alg": "EdDSA", "typ": "JWT" });
    let crit = json!({ "alg": "EdDSA", "kid": s.ed.kid(), "crit": ["exp"], "exp": 1 });
    for (header, error) in [
        (no_kid, AuthError::MissingKeyId),
        (crit, AuthError::CriticalHeader),
    ] {
        let forged = format!("{}.{rest}", b64(header.to_string().as_bytes()));
        assert_eq!(s.verifier.verify(&forged).await, Err(error));
    }
}

#[tokio::test]
async fn garbage_is_malformed_and_mutations_never_pass_or_panic() {
    let s = Setup::new().await;
    for junk in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "!!!.e30.e30",
        "e30.e30.e30",
        "bm90IGpzb24.e30.e30",
    ] {
        assert_eq!(
            s.verifier.verify(junk).await,
            Err(AuthError::Malformed),
            "{junk:?}"
        );
    }
    // Every single-character change of a valid token is refused.
    let valid = token(&s.ed, &claims("customer-1", &["customer"]));
    assert!(s.verifier.verify(&valid).await.is_ok());
    for i in 0..valid.len() {
        let other = if valid.as_bytes()[i] == b'A' {
            b'B'
        } else {
            b'A'
        };
        for replacement in [other, b'.'] {
            if valid.as_bytes()[i] == replacement {
                continue;
            }
            let mut bytes = valid.clone().into_bytes();
            bytes[i] = replacement;
            let mutated = String::from_utf8(bytes).unwrap();
            let result = s.verifier.verify(&mutated).await;
            assert!(result.is_err(), "mutation at {i} passed: {mutated}");
        }
    }
}
