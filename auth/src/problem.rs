//! The 401 and 403 answers both APIs give: RFC 6750 challenges with an
//! `application/problem+json` body (RFC 9457) of a stable `type`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::AuthError;

pub const UNAUTHORIZED_TYPE: &str = "urn:orderflow:problem:unauthorized";
pub const FORBIDDEN_TYPE: &str = "urn:orderflow:problem:forbidden";
/// The realm named in every challenge.
pub const REALM: &str = "orderflow";

pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// The body, with the same fields as the command API's problems.
#[derive(Debug, Serialize)]
pub(crate) struct ProblemBody<'a> {
    #[serde(rename = "type")]
    pub type_uri: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: &'a str,
    pub code: &'a str,
}

fn problem(
    status: StatusCode,
    type_uri: &'static str,
    title: &'static str,
    detail: &str,
    code: &str,
    challenge: String,
) -> Response {
    let body = ProblemBody {
        type_uri,
        title,
        status: status.as_u16(),
        detail,
        code,
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    // The challenge is built from constants and `sanitize`d text, so it is
    // always a valid header value; should that ever fail, the bare scheme
    // still tells the client what to send.
    let challenge =
        HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    headers.insert(header::WWW_AUTHENTICATE, challenge);
    response
}

/// Keeps only the characters RFC 6750 §3 allows in `error_description`.
fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(*c, ' ' | '!' | '#'..='[' | ']'..='~'))
        .collect()
}

/// The 401 for `error`. A missing token gets a challenge without an error
/// code (RFC 6750 §3.1); every other failure is `invalid_token`.
pub fn unauthorized_response(error: &AuthError) -> Response {
    let detail = error.to_string();
    let challenge = match error {
        AuthError::Missing => format!("Bearer realm=\"{REALM}\""),
        _ => format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
            sanitize(&detail)
        ),
    };
    problem(
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED_TYPE,
        "Unauthorized",
        &detail,
        error.code(),
        challenge,
    )
}

/// The 403 for a valid token whose roles may not do this; `detail` says
/// what was refused (e.g. "refunds need the finance role").
pub fn forbidden_response(detail: &str) -> Response {
    let challenge = format!(
        "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"{}\"",
        sanitize(detail)
    );
    problem(
        StatusCode::FORBIDDEN,
        FORBIDDEN_TYPE,
        "Forbidden",
        detail,
        "forbidden",
        challenge,
    )
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        unauthorized_response(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn descriptions_lose_quotes_backslashes_and_controls() {
        assert_eq!(sanitize("a \"b\" \\c\r\nd é"), "a b cd ");
        assert_eq!(sanitize("`kid` [x]"), "`kid` [x]");
    }
}
