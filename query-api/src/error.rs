//! Errors: the service's own (startup) and the codes GraphQL
//! errors carry in `extensions.code`.

use std::sync::Arc;

use async_graphql::{ErrorExtensions, ServerError, Value};

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryApiError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("read database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event store: {0}")]
    Store(#[from] orderflow_event_store::StoreError),
}

/// The codes a client can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid bearer token (HTTP answers these with a 401 before any
    /// operation runs; over WebSocket the connection is refused).
    Unauthenticated,
    /// The token's roles may not read this field.
    Forbidden,
    BadUserInput,
    Timeout,
    Stale,
    /// A server-wide or per-client limit is reached (not the request's own
    /// shape): try again later.
    LimitExceeded,
    /// APQ: the hash is not known; send it again with the query text.
    PersistedQueryNotFound,
    /// APQ is turned off (`QUERY_APQ_CACHE_ENTRIES=0`).
    PersistedQueryNotSupported,
    /// Trusted documents are enforced for this caller and this document is
    /// not in the manifest.
    PersistedQueryNotAllowed,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Stale => "STALE",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            ErrorCode::PersistedQueryNotAllowed => "PERSISTED_QUERY_NOT_ALLOWED",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// A GraphQL error with this code.
    pub fn error(self, message: impl Into<String>) -> async_graphql::Error {
        async_graphql::Error::new(message).extend_with(|_, e| e.set("code", self.as_str()))
    }

    /// The same, for places that build responses directly.
    pub fn server_error(self, message: impl Into<String>) -> ServerError {
        let mut e = ServerError::new(message, None);
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", self.as_str());
        e
    }
}

pub(crate) fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    ErrorCode::BadUserInput.error(message)
}

/// A failed read-database statement. Deliberately not `Display`: that keeps
/// async-graphql's blanket `From<impl Display>` (which would copy the
/// message, SQL details included, to the client) from applying, so the
/// only way out is the conversion below.
#[derive(Debug, Clone)]
pub struct DbError(pub(crate) Arc<sqlx::Error>);

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError(Arc::new(e))
    }
}

impl DbError {
    pub fn into_inner(self) -> Arc<sqlx::Error> {
        self.0
    }
}

/// SQLSTATE `query_canceled`: what `statement_timeout` raises.
const QUERY_CANCELED: &str = "57014";

impl From<DbError> for async_graphql::Error {
    fn from(e: DbError) -> Self {
        let canceled =
            e.0.as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == QUERY_CANCELED);
        if canceled {
            tracing::warn!(error = %e.0, "read statement cut off by statement_timeout");
            metrics::counter!("orderflow_query_statement_timeouts_total").increment(1);
            return ErrorCode::Timeout.error(
                "a read-database statement ran longer than the statement timeout; \
                 ask for less (a shorter range, fewer counts)",
            );
        }
        if matches!(*e.0, sqlx::Error::PoolTimedOut) {
            tracing::warn!("no read-database connection free in time");
            metrics::counter!("orderflow_query_pool_timeouts_total").increment(1);
            return ErrorCode::Timeout.error("the read database is busy; try again later");
        }
        tracing::error!(error = %e.0, "read database error");
        metrics::counter!("orderflow_query_internal_errors_total").increment(1);
        ErrorCode::Internal.error("internal error; see the server log")
    }
}

/// Gives every error that has no code one: the errors without one come from
/// parsing, validation or argument coercion, i.e. from what the client sent.
pub(crate) fn ensure_codes(errors: &mut [ServerError]) {
    for e in errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", Value::from(ErrorCode::BadUserInput.as_str()));
        }
    }
}
