//! `orderflow token` as a user runs it: the printed token is accepted by a
//! development-mode verifier on the same key file, with the asked-for
//! subject, roles and lifetime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use orderflow_auth::{AuthSettings, Role, Verifier, unix_now};
use serde_json::Value;

fn orderflow_token(key_file: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg("token")
        .args(args)
        .env("AUTH_DEV_KEY_FILE", key_file)
        .env_remove("AUTH_JWKS_URL")
        .env_remove("AUTH_JWKS_FILE")
        .output()
        .unwrap()
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[tokio::test]
async fn printed_tokens_verify_against_the_development_key() {
    let dir = std::env::temp_dir().join(format!("orderflow-token-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key_file = dir.join(".orderflow/dev-signing-key.pem");

    let out = orderflow_token(&key_file, &["--role", "customer", "--sub", "customer-42"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(key_file.exists(), "the key file is created on first use");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim_end();
    assert_eq!(stdout.lines().count(), 1, "only the token on stdout");

    let out = orderflow_token(
        &key_file,
        &[
            "--role", "staff", "--role", "finance", "--sub", "ops-1", "--ttl", "15m",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();

    let settings = AuthSettings {
        dev_key_file: key_file.clone(),
        ..AuthSettings::default()
    };
    let verifier = Verifier::new(settings.resolve().unwrap()).await.unwrap();
    let p = verifier.verify(token).await.unwrap();
    assert_eq!(p.subject, "customer-42");
    assert_eq!(p.customer_id.as_deref(), Some("customer-42"));
    assert_eq!(p.roles, vec![Role::Customer]);
    let c = claims_of(token);
    let ttl = c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap();
    assert_eq!(ttl, 3600, "default lifetime");
    assert!(c["iat"].as_u64().unwrap() <= unix_now());

    let p = verifier.verify(&second).await.unwrap();
    assert_eq!(p.roles, vec![Role::Staff, Role::Finance]);
    let c = claims_of(&second);
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 900);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_roles_and_bad_lifetimes_are_refused() {
    let dir = std::env::temp_dir().join(format!("orderflow-token-bad-{}", std::process::id()));
    let key_file = dir.join("key.pem");
    for args in [
        &["--role", "admin", "--sub", "x"][..],
        &["--role", "customer", "--sub", "x", "--ttl", "1y"][..],
        &["--sub", "x"][..],
    ] {
        let out = orderflow_token(&key_file, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
