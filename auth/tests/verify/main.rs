//! Bearer-token verification with real keys, real tokens and a real JWKS
//! server (testkit): accepted tokens, hostile ones, the key cache, the
//! axum extractor over HTTP, and development mode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accepted;
mod cache;
mod dev_key;
mod hostile;
mod http;
mod refetch;
mod support;
