//! Extractors that turn every malformed part of a request into a problem:
//! the JSON body (content type, size, syntax, shape), the order id in the
//! path, and the command headers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use orderflow_domain::OrderId;
use orderflow_observability::CorrelationId;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::handler::{CommandContext, IdempotencyInput};
use crate::problem::{Problem, ProblemKind};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A JSON body, with the raw bytes kept for the idempotency hash.
#[derive(Debug)]
pub struct JsonBody<T> {
    pub value: T,
    pub bytes: Bytes,
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Problem::new(
                ProblemKind::UnsupportedMediaType,
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = read_body(req, state).await?;
        let value = parse_json(&bytes)?;
        Ok(JsonBody { value, bytes })
    }
}

/// The raw body, within the router's `DefaultBodyLimit` (413 beyond it).
pub(crate) async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Problem> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(ProblemKind::PayloadTooLarge, e.body_text())
        } else {
            Problem::new(ProblemKind::InvalidRequest, e.body_text())
        }
    })
}

/// A JSON body's value: syntax first (400 malformed-json), then shape (400
/// invalid-body), so `{} trailing` is malformed rather than "missing field".
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let json: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Problem::new(ProblemKind::MalformedJson, e.to_string()))?;
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        Problem::new(ProblemKind::InvalidBody, detail)
    })
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// The order id from the path; a non-UUID can name no order.
pub fn parse_order_id(raw: &str) -> Result<OrderId, Problem> {
    uuid::Uuid::try_parse(raw).map(OrderId::new).map_err(|_| {
        Problem::new(
            ProblemKind::NotFound,
            format!("no order {raw:?}: order ids are UUIDs"),
        )
        .with_code("order.not_found")
    })
}

/// What the command headers say, plus the request's identity for hashing.
#[derive(Debug)]
pub struct CommandHeaders {
    pub context: CommandContext,
    method: Method,
    path: String,
}

impl CommandHeaders {
    /// Binds the idempotency key (if any) to this exact request.
    pub fn with_body(mut self, body: &[u8]) -> CommandContext {
        if let Some(idem) = &mut self.context.idempotency {
            let mut h = Sha256::new();
            h.update(self.method.as_str().as_bytes());
            h.update(b" ");
            h.update(self.path.as_bytes());
            h.update(b"\n");
            h.update(body);
            idem.request_hash = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        }
        self.context
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CommandHeaders {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let text = |name: &str| -> Result<Option<String>, Problem> {
            match headers.get(name) {
                None => Ok(None),
                Some(v) => v.to_str().map(|s| Some(s.trim().to_owned())).map_err(|_| {
                    Problem::new(
                        ProblemKind::InvalidRequest,
                        format!("header {name} is not ASCII text"),
                    )
                }),
            }
        };
        let expected_version = text(header::IF_MATCH.as_str())?
            .map(|v| parse_if_match(&v))
            .transpose()?;
        let idempotency = text(IDEMPOTENCY_KEY)?
            .map(|key| {
                if !valid_idempotency_key(&key) {
                    Err(Problem::new(
                        ProblemKind::InvalidRequest,
                        format!(
                            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII \
                             characters (inner spaces allowed)"
                        ),
                    ))
                } else {
                    Ok(IdempotencyInput {
                        key,
                        request_hash: String::new(),
                        // Set from the bearer token in `routes::run`.
                        owner: None,
                    })
                }
            })
            .transpose()?;
        let correlation_id = parts.extensions.get::<CorrelationId>().map(|c| c.0.clone());
        Ok(CommandHeaders {
            context: CommandContext {
                causation_id: correlation_id.clone(),
                correlation_id,
                // The actor comes from the bearer token (see `routes::run`);
                // an `X-Actor` header is ignored.
                traceparent: text("traceparent")?.filter(|t| t.len() <= 128),
                expected_version,
                idempotency,
                ..CommandContext::default()
            },
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
        })
    }
}

/// 1 to 255 visible ASCII characters with inner spaces, exactly what the
/// OpenAPI document's pattern says (`contract::IDEMPOTENCY_KEY_PATTERN`).
/// The value arrives trimmed, so it neither starts nor ends with a space.
fn valid_idempotency_key(key: &str) -> bool {
    (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&key.len())
        && key.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// `If-Match: "3"` (or `3`). Weak tags and `*` make no sense for an exact
/// stream version and are refused.
fn parse_if_match(raw: &str) -> Result<u64, Problem> {
    let unquoted = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    unquoted.parse().map_err(|_| {
        Problem::new(
            ProblemKind::InvalidRequest,
            format!("If-Match must be the order's ETag, e.g. \"3\"; got {raw:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_takes_quoted_or_bare_versions() {
        assert_eq!(parse_if_match("\"3\"").ok(), Some(3));
        assert_eq!(parse_if_match("12").ok(), Some(12));
        for bad in ["*", "W/\"3\"", "\"x\"", ""] {
            assert!(parse_if_match(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(valid_idempotency_key("order-42 retry"));
        assert!(valid_idempotency_key(&"k".repeat(255)));
        for bad in ["", "tab\there", "ключ", &"k".repeat(256)] {
            assert!(!valid_idempotency_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (v, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
        ] {
            h.insert(header::CONTENT_TYPE, v.parse().expect("header"));
            assert_eq!(is_json(&h), ok, "{v}");
        }
    }
}
