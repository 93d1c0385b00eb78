//! The axum extractor: a handler that takes a [`Principal`] only runs for
//! a request with a valid `Authorization: Bearer <token>`; every other
//! request gets the 401 of [`unauthorized_response`](crate::unauthorized_response).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::AuthError;
use crate::principal::Principal;
use crate::verifier::Verifier;

/// The token of the request's one `Authorization` header, `Ok(None)` when
/// there is none or it names another scheme (`Basic`).
pub fn bearer_token(parts: &Parts) -> Result<Option<&str>, AuthError> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::MalformedHeader);
    }
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    // Auth schemes are case-insensitive (RFC 9110 §11.1).
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_start_matches(' ');
    // b64token (RFC 6750 §2.1): one token, of these characters only.
    let b64token = !token.is_empty()
        && token
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !b64token {
        return Err(AuthError::MalformedHeader);
    }
    Ok(Some(token))
}

impl<S> FromRequestParts<S> for Principal
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let token = bearer_token(parts)?.ok_or(AuthError::Missing)?;
        verifier.verify(token).await
    }
}

/// `Option<Principal>`: `None` without credentials (for routes that also
/// serve anonymous callers), still a 401 for a bad token.
impl<S> OptionalFromRequestParts<S> for Principal
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        match bearer_token(parts)? {
            Some(token) => verifier.verify(token).await.map(Some),
            None => Ok(None),
        }
    }
}
