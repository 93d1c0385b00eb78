//! RFC 9457 problem details. Every error the API returns is one of these,
//! with a stable `type` URI and `code` that clients may switch on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The stable problem types. `type` is `urn:orderflow:problem:<slug>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedJson,
    InvalidBody,
    InvalidRequest,
    Validation,
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
    Internal,
}

impl ProblemKind {
    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed-json",
            Self::InvalidBody => "invalid-body",
            Self::InvalidRequest => "invalid-request",
            Self::Validation => "validation",
            Self::NotFound => "not-found",
            Self::RouteNotFound => "route-not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::BusinessRule => "business-rule",
            Self::PreconditionFailed => "precondition-failed",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Contention => "contention",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::InvalidBody | Self::InvalidRequest => {
                StatusCode::BAD_REQUEST
            }
            Self::Validation | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BusinessRule | Self::Contention => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::MalformedJson => "The body is not valid JSON",
            Self::InvalidBody => "The body does not have the expected shape",
            Self::InvalidRequest => "The request is not valid",
            Self::Validation => "Some fields are invalid",
            Self::NotFound => "No such resource",
            Self::RouteNotFound => "No such route",
            Self::MethodNotAllowed => "Method not allowed on this route",
            Self::BusinessRule => "The order's rules do not allow this",
            Self::PreconditionFailed => "The order changed since the version in If-Match",
            Self::IdempotencyKeyReused => "The Idempotency-Key was used for a different request",
            Self::PayloadTooLarge => "The body is too large",
            Self::UnsupportedMediaType => "The body must be application/json",
            Self::Contention => "The order is changing too fast; try again",
            Self::Unavailable => "The event store is unavailable; nothing was written",
            Self::Internal => "Internal error",
        }
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
        Problem(Box::new(ProblemDetails {
            type_uri: format!("urn:orderflow:problem:{}", kind.slug()),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            code: kind.slug().to_owned(),
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
        response
    }
}
