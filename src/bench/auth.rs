//! The benchmarks' auth: a key generated for the run, trusted by the
//! in-process APIs, with tokens minted up front, so the numbers include
//! verification as production pays it.
//!
//! The server has no "auth off" mode (by design), so `--auth` compares what
//! verification can cost: the production setting (each token's signature
//! checked once, then a cache hit per request) against a verifier whose
//! cache is off (every request pays the full signature check), and
//! measures both per-call costs in this process.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use orderflow_auth::{
    AuthConfig, DEV_AUDIENCE, DEV_ISSUER, KeySource, Role, SigningKey, TokenClaims, Verifier,
};

use crate::rest_client::Tokens;

/// How the benchmark's verifier treats a token it has seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// The production default: the first request of a token pays the
    /// signature check, later ones a cache hit.
    Cached,
    /// Every request pays the full signature check (token cache off).
    Uncached,
}

/// A verifier trusting a fresh key, and the client's tokens signed with it.
pub async fn bench_auth() -> anyhow::Result<(Arc<Verifier>, Tokens)> {
    bench_auth_as(AuthMode::Cached).await
}

/// [`bench_auth`] with the verifier's token cache as `mode` says.
pub async fn bench_auth_as(mode: AuthMode) -> anyhow::Result<(Arc<Verifier>, Tokens)> {
    let key = SigningKey::generate_ed25519().context("generate the benchmark's signing key")?;
    let verifier = verifier_for(&key, mode).await?;
    Ok((verifier, Tokens::minted(key)))
}

async fn verifier_for(key: &SigningKey, mode: AuthMode) -> anyhow::Result<Arc<Verifier>> {
    // A static key set, not development mode: nothing to warn about here.
    let mut config = AuthConfig::jwks(KeySource::Static(key.jwks()), DEV_ISSUER, DEV_AUDIENCE);
    if mode == AuthMode::Uncached {
        config.token_cache_entries = 0;
    }
    let verifier = Verifier::new(config)
        .await
        .context("build the benchmark's verifier")?;
    Ok(Arc::new(verifier))
}

/// Microseconds one `verify` call takes (median of 5 rounds of `calls`),
/// with the token cache as `mode` says, on one core.
pub async fn verify_cost_micros(mode: AuthMode, calls: u32) -> anyhow::Result<f64> {
    let key = SigningKey::generate_ed25519().context("generate a signing key")?;
    let verifier = verifier_for(&key, mode).await?;
    let claims = TokenClaims::development(
        "bench-customer",
        &[Role::Customer],
        std::time::Duration::from_secs(600),
    );
    let token = orderflow_auth::mint(&key, &claims).context("mint a token")?;
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..calls {
            verifier.verify(&token).await.context("verify")?;
        }
        rounds.push(start.elapsed().as_secs_f64() * 1e6 / f64::from(calls.max(1)));
    }
    rounds.sort_by(f64::total_cmp);
    Ok(rounds[rounds.len() / 2])
}
