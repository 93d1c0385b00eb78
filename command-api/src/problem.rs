//! RFC 9457 problem details. Every error the API returns is one of these,
//! with a stable `type` URI and `code` that clients may switch on.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The stable problem types. `type` is `urn:orderflow:problem:<slug>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedJson,
    InvalidBody,
    InvalidRequest,
    Validation,
    /// A signed request (the payment webhook) whose signature is missing,
    /// wrong or stale.
    BadSignature,
    /// A valid token whose roles may not do this.
    Forbidden,
    NotFound,
    RouteNotFound,
    MethodNotAllowed,
    BusinessRule,
    PreconditionFailed,
    IdempotencyKeyReused,
    PayloadTooLarge,
    UnsupportedMediaType,
    Contention,
    Unavailable,
    /// Unlike `Unavailable` ("nothing was written"), the commit may or may
    /// not have happened.
    OutcomeUnknown,
    Internal,
}

/// One row of the status table: what the API answers for a kind of
/// problem, and when (the OpenAPI document's wording).
#[derive(Debug, Clone, Copy)]
pub struct ProblemType {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub when: &'static str,
}

const fn row(
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    when: &'static str,
) -> ProblemType {
    ProblemType {
        status,
        slug,
        title,
        when,
    }
}

impl ProblemKind {
    /// The status table: the runtime answers from it and the OpenAPI
    /// document's error responses are written from it.
    pub const fn problem_type(self) -> ProblemType {
        use StatusCode as S;
        match self {
            Self::MalformedJson => row(
                S::BAD_REQUEST,
                "malformed-json",
                "The body is not valid JSON",
                "the body is not valid JSON",
            ),
            Self::InvalidBody => row(
                S::BAD_REQUEST,
                "invalid-body",
                "The body does not have the expected shape",
                "a field is missing, unknown or of the wrong JSON type",
            ),
            Self::InvalidRequest => row(
                S::BAD_REQUEST,
                "invalid-request",
                "The request is not valid",
                "a malformed header or query parameter",
            ),
            Self::Validation => row(
                S::UNPROCESSABLE_ENTITY,
                "validation",
                "Some fields are invalid",
                "invalid field values (per-field `errors`), or a value the event store refused (`code` `store.rejected`; only this request fails)",
            ),
            Self::BadSignature => row(
                S::UNAUTHORIZED,
                "bad-signature",
                "The request's signature is missing, invalid or stale",
                "the `Orderflow-Signature` header is missing or malformed, matches no signature of the body with the webhook secret, or is older than the tolerance; `code` says which (`signature.missing`, `signature.malformed`, `signature.mismatch`, `signature.stale`, `signature.not_configured`)",
            ),
            Self::Forbidden => row(
                S::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "the token's roles may not do this",
            ),
            Self::NotFound => row(
                S::NOT_FOUND,
                "not-found",
                "No such resource",
                "no such order (or no such item on it)",
            ),
            Self::RouteNotFound => row(
                S::NOT_FOUND,
                "route-not-found",
                "No such route",
                "no such route",
            ),
            Self::MethodNotAllowed => row(
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed on this route",
                "the route does not take this method",
            ),
            Self::BusinessRule => row(
                S::CONFLICT,
                "business-rule",
                "The order's rules do not allow this",
                "a business rule forbids the command in the order's state; `code` names the rule",
            ),
            Self::PreconditionFailed => row(
                S::PRECONDITION_FAILED,
                "precondition-failed",
                "The order changed since the version in If-Match",
                "`If-Match` names a version the order is no longer at",
            ),
            Self::IdempotencyKeyReused => row(
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "The Idempotency-Key was used for a different request",
                "the `Idempotency-Key` was used for another request",
            ),
            Self::PayloadTooLarge => row(
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "The body is too large",
                "the body is larger than the limit",
            ),
            Self::UnsupportedMediaType => row(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be application/json",
                "the body is not `application/json`",
            ),
            Self::Contention => row(
                S::CONFLICT,
                "contention",
                "The order is changing too fast; try again",
                "the order changed under every retry; try again",
            ),
            Self::Unavailable => row(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "The event store is unavailable; nothing was written",
                "the event store is unreachable and nothing was written",
            ),
            Self::OutcomeUnknown => row(
                S::SERVICE_UNAVAILABLE,
                "outcome-unknown",
                "The outcome is unknown; retry with the same Idempotency-Key",
                "the connection broke during the commit and its outcome is unknown: retry with the same `Idempotency-Key`",
            ),
            Self::Internal => row(
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "internal error",
            ),
        }
    }

    pub fn slug(self) -> &'static str {
        self.problem_type().slug
    }

    pub fn status(self) -> StatusCode {
        self.problem_type().status
    }
}

/// One field at fault, as a JSON pointer-ish path (`items[0].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    /// Stable code, e.g. `item.invalid_quantity`.
    pub code: String,
    pub message: String,
}

/// An `application/problem+json` body.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct ProblemDetails {
    /// `urn:orderflow:problem:<slug>`; stable.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine code: the slug, or the domain rule's code (e.g.
    /// `order.not_draft`) for 409 and 422.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The order's current stream version, for 412.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

/// An error answer; boxed so `Result<_, Problem>` stays small.
#[derive(Debug, Clone)]
pub struct Problem(pub Box<ProblemDetails>);

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Problem {
        let row = kind.problem_type();
        Problem(Box::new(ProblemDetails {
            type_uri: format!("urn:orderflow:problem:{}", row.slug),
            title: row.title.to_owned(),
            status: row.status.as_u16(),
            detail: detail.into(),
            code: row.slug.to_owned(),
            errors: Vec::new(),
            current_version: None,
        }))
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Problem {
        self.0.code = code.into();
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.0.errors = errors;
        self
    }

    pub fn with_current_version(mut self, version: u64) -> Problem {
        self.0.current_version = Some(version);
        self
    }

    pub fn details(&self) -> &ProblemDetails {
        &self.0
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&*self.0)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::FORBIDDEN {
            // The RFC 6750 answer for a token that is valid but not enough.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"orderflow\", error=\"insufficient_scope\"",
                ),
            );
        }
        response
    }
}

/// The OpenAPI error responses of an endpoint that answers with `kinds`:
/// one response per status, naming each problem type it may carry, all
/// from the status table.
pub(crate) fn error_responses(
    kinds: &[ProblemKind],
) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    let mut by_status: BTreeMap<u16, Vec<ProblemType>> = BTreeMap::new();
    for kind in kinds {
        let row = kind.problem_type();
        by_status.entry(row.status.as_u16()).or_default().push(row);
    }
    by_status
        .into_iter()
        .map(|(status, rows)| {
            let cases: Vec<String> = rows
                .iter()
                .map(|r| format!("`{}`: {}.", r.slug, r.when))
                .collect();
            let response = ResponseBuilder::new()
                .description(cases.join(" "))
                .content(
                    PROBLEM_JSON,
                    Content::new(Some(Ref::from_schema_name("ProblemDetails"))),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}
