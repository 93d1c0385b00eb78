//! Who is at the console. Browsers cannot attach a bearer header when they
//! navigate, so the operator signs in once with a token: it is verified
//! with the API's [`Verifier`] and kept in an HttpOnly, SameSite=Strict
//! cookie (Secure unless auth runs in development mode) that expires with
//! the token. Every request verifies the cookie's token again, so a
//! revoked signing key or an expired token ends the session. Acts are POST
//! forms carrying a CSRF token derived from the session's token, which a
//! page of another site can neither read nor compute.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orderflow_auth::{Principal, Role};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Console;
use super::pages;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "orderflow_console";
/// Longest token accepted on the sign-in form.
const MAX_TOKEN: usize = 16 * 1024;

/// A signed-in operator.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub principal: Principal,
    /// For the forms of this session's pages.
    pub csrf: String,
}

impl Session {
    /// Who acts, as the audit log records it.
    pub fn actor(&self) -> orderflow_subscriptions::Actor {
        orderflow_subscriptions::Actor::console(match &self.principal.client_id {
            Some(client) => format!("{} (client {client})", self.principal.subject),
            None => self.principal.subject.clone(),
        })
    }
}

fn csrf_of(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"orderflow-console-csrf\0");
    h.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Compares without an early exit on the first differing byte.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session cookie's token, if the request carries one.
fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The token's `exp` (the verifier accepted it, so its payload is trusted).
fn expiry_of(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get("exp")?.as_u64()
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn set_cookie(console: &Console, token: &str, max_age: u64) -> HeaderValue {
    let secure = if console.verifier.is_development() {
        ""
    } else {
        "; Secure"
    };
    // A verified token is base64url segments and dots: cookie-safe.
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| clear_cookie())
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "orderflow_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}

/// Why a request has no session.
pub(crate) enum Refusal {
    /// No cookie: sign in.
    SignIn,
    /// The cookie's token no longer verifies (expired, key rotated).
    Invalid(String),
    /// A valid caller without the operator role.
    NotOperator(Principal),
}

impl Refusal {
    /// The page answering it: the sign-in page (401, or a redirect for a
    /// plain navigation), or 403.
    pub fn page(self, console: &Console, navigation: bool) -> Response {
        match self {
            Refusal::SignIn if navigation => Redirect::to("/console/sign-in").into_response(),
            Refusal::SignIn => sign_in_response(
                console,
                StatusCode::UNAUTHORIZED,
                "Sign in with an operator token first.",
            ),
            Refusal::Invalid(why) => {
                let mut r = sign_in_response(
                    console,
                    StatusCode::UNAUTHORIZED,
                    &format!("Your session ended: {why}. Sign in again."),
                );
                r.headers_mut().insert(header::SET_COOKIE, clear_cookie());
                r
            }
            Refusal::NotOperator(p) => forbidden(console, &p),
        }
    }
}

fn forbidden(console: &Console, p: &Principal) -> Response {
    metrics::counter!("orderflow_console_refused_total", "why" => "role").increment(1);
    let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
    pages::message(
        console,
        StatusCode::FORBIDDEN,
        "Not an operator",
        &format!(
            "{} holds the roles [{}]; the console is for the operator role.",
            p.subject,
            roles.join(", ")
        ),
    )
}

/// The request's session, or why there is none.
pub(crate) async fn session(console: &Console, headers: &HeaderMap) -> Result<Session, Refusal> {
    let Some(token) = cookie_token(headers) else {
        return Err(Refusal::SignIn);
    };
    let principal = console.verifier.verify(token).await.map_err(|e| {
        metrics::counter!("orderflow_console_refused_total", "why" => "token").increment(1);
        Refusal::Invalid(e.to_string())
    })?;
    if !principal.has_role(Role::Operator) {
        return Err(Refusal::NotOperator(principal));
    }
    Ok(Session {
        principal,
        csrf: csrf_of(token),
    })
}

/// Whether `form_csrf` belongs to the request's session.
pub(crate) fn csrf_matches(session: &Session, form_csrf: &str) -> bool {
    same(&session.csrf, form_csrf)
}

fn sign_in_response(console: &Console, status: StatusCode, message: &str) -> Response {
    pages::sign_in(console, status, message)
}

/// `GET /console/sign-in`.
pub(crate) async fn sign_in_page(State(console): State<Arc<Console>>) -> Response {
    sign_in_response(&console, StatusCode::OK, "")
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    token: String,
}

/// `POST /console/sign-in`: verify the token; an operator's becomes the
/// session cookie, anyone else's is refused without one.
pub(crate) async fn sign_in(
    State(console): State<Arc<Console>>,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return sign_in_response(
            &console,
            StatusCode::BAD_REQUEST,
            "The form was not understood; paste a token and sign in.",
        );
    };
    let token = form.token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN {
        return sign_in_response(
            &console,
            StatusCode::BAD_REQUEST,
            "Paste a bearer token (a JWT) into the field.",
        );
    }
    let principal = match console.verifier.verify(token).await {
        Ok(p) => p,
        Err(e) => {
            metrics::counter!("orderflow_console_refused_total", "why" => "token").increment(1);
            return sign_in_response(
                &console,
                StatusCode::UNAUTHORIZED,
                &format!("That token was refused: {e}."),
            );
        }
    };
    if !principal.has_role(Role::Operator) {
        return forbidden(&console, &principal);
    }
    let now = now_unix();
    let Some(max_age) = expiry_of(token)
        .map(|exp| exp.saturating_sub(now))
        .filter(|a| *a > 0)
    else {
        return sign_in_response(
            &console,
            StatusCode::UNAUTHORIZED,
            "That token has no expiry (exp); the console needs one to end the session.",
        );
    };
    tracing::info!(subject = %principal.subject, "operator signed in to the console");
    let mut r = Redirect::to("/console").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&console, token, max_age));
    r
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /console/sign-out`: drops the cookie (the token itself stays
/// valid until it expires; it was the caller's before).
pub(crate) async fn sign_out(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // Sign-out by another site would only be a nuisance, but keep to one
    // rule: every POST from a page carries the CSRF token.
    if let Ok(s) = session(&console, &headers).await {
        let ok = form.as_ref().is_ok_and(|Form(f)| csrf_matches(&s, &f.csrf));
        if !ok {
            return pages::stale_form(&console);
        }
    }
    let mut r = Redirect::to("/console/sign-in").into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; orderflow_console=abc.def.ghi; b=2"),
        );
        assert_eq!(cookie_token(&h), Some("abc.def.ghi"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("orderflow_console="),
        );
        assert_eq!(cookie_token(&h), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_of("token-a");
        assert_eq!(a, csrf_of("token-a"));
        assert_ne!(a, csrf_of("token-b"));
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &a[1..]));
        assert!(!same(&a, &csrf_of("token-b")));
    }
}
