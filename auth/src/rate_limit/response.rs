//! What a client is told about its limit: the `RateLimit-Policy` and
//! `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-09 (structured
//! fields, one named policy: `"customer";q=200;w=10` and
//! `"customer";r=150;t=3`) on every limited response, and on a refusal a 429
//! problem with `Retry-After`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::problem::{PROBLEM_JSON, ProblemBody};
use crate::rate_limit::config::Limit;

/// The problem `type` of a 429.
pub const RATE_LIMITED_TYPE: &str = "urn:orderflow:problem:rate-limited";

const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Whole seconds, rounded up: a client that waits this long is served.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The two fields for `policy` with `remaining` requests left, the bucket
/// full again after `reset`.
pub(crate) fn add_headers(
    headers: &mut HeaderMap,
    policy: &'static str,
    limit: &Limit,
    remaining: u32,
    reset: Duration,
) {
    let policy_field = format!(
        "\"{policy}\";q={};w={}",
        limit.burst,
        ceil_secs(limit.window()).max(1)
    );
    let state_field = format!("\"{policy}\";r={remaining};t={}", ceil_secs(reset));
    // Built from digits and a constant name: always valid header values.
    if let (Ok(p), Ok(s)) = (
        HeaderValue::from_str(&policy_field),
        HeaderValue::from_str(&state_field),
    ) {
        headers.insert(RATE_LIMIT_POLICY, p);
        headers.insert(RATE_LIMIT, s);
    }
}

/// The 429: problem+json of a stable type, `Retry-After` in seconds (at
/// least 1), and the rate-limit fields.
pub(crate) fn too_many_requests(
    policy: &'static str,
    limit: &Limit,
    retry_after: Duration,
) -> Response {
    let wait = ceil_secs(retry_after).max(1);
    let detail =
        format!("too many requests under the `{policy}` limit ({limit}); retry after {wait} s");
    let body = ProblemBody {
        type_uri: RATE_LIMITED_TYPE,
        title: "Too Many Requests",
        status: StatusCode::TOO_MANY_REQUESTS.as_u16(),
        detail: &detail,
        code: "rate_limited",
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
    // Full again once the refused cell and the rest of the burst are back.
    let reset = retry_after + limit.replenish_every * (limit.burst.get() - 1);
    add_headers(headers, policy, limit, 0, reset);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_structured_form() {
        let limit = Limit::per_second(10, 50);
        let mut h = HeaderMap::new();
        add_headers(&mut h, "customer", &limit, 7, Duration::from_millis(4300));
        assert_eq!(h[&RATE_LIMIT_POLICY], "\"customer\";q=50;w=5");
        assert_eq!(h[&RATE_LIMIT], "\"customer\";r=7;t=5");
        let r = too_many_requests("anonymous", &limit, Duration::from_millis(20));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(r.headers()[&RATE_LIMIT], "\"anonymous\";r=0;t=5");
    }
}
