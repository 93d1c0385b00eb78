//! The benchmarks' auth: a key generated for the run, trusted by the
//! in-process command API, with tokens minted up front and cached, so the
//! numbers include verification as production pays it.

use std::sync::Arc;

use anyhow::Context;
use orderflow_auth::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER, KeySource, SigningKey, Verifier};

use crate::rest_client::Tokens;

/// A verifier trusting a fresh key, and the client's tokens signed with it.
pub async fn bench_auth() -> anyhow::Result<(Arc<Verifier>, Tokens)> {
    let key = SigningKey::generate_ed25519().context("generate the benchmark's signing key")?;
    // A static key set, not development mode: nothing to warn about here.
    let config = AuthConfig::jwks(KeySource::Static(key.jwks()), DEV_ISSUER, DEV_AUDIENCE);
    let verifier = Verifier::new(config)
        .await
        .context("build the benchmark's verifier")?;
    Ok((Arc::new(verifier), Tokens::minted(key)))
}
