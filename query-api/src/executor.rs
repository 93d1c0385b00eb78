//! Runs operations for HTTP and WebSocket alike. Before async-graphql sees
//! an operation: its size, fields and depth are checked (on a parse that is
//! cached by query text). Around it: per-request loaders, the
//! read-your-writes gate, the per-request timeout, caps on subscriptions
//! per connection and per process, and an `extensions.code` on every error.
//!
//! Done here rather than in an async-graphql extension because any
//! registered extension sends every field of every response through the
//! extension chain (a boxed future per field), which cost a third of a
//! 50-order page.

use std::any::TypeId;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::{Data, Executor, Request, Response, Value};
use tokio::sync::Semaphore;

use crate::consistency::{Freshness, Gate, PositionRequest, projections_read, stale};
use crate::db::ReadDb;
use crate::doc_cache::DocCache;
use crate::error::{ErrorCode, ensure_codes};
use crate::loaders::loaders;
use crate::notices::ChangeFeed;
use crate::operation_label;
use crate::persisted::PersistedQueries;
use crate::schema::AppSchema;
use crate::ws_auth::TokenExpiry;

/// Subscriptions one WebSocket may still open (its connection data).
#[derive(Debug, Clone)]
pub(crate) struct SubscriptionSlots(pub Arc<Semaphore>);

/// What an operation may be, checked before async-graphql parses or
/// validates it.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    pub max_query_bytes: usize,
    pub max_fields: usize,
    pub max_expensive_fields: usize,
    pub max_depth: usize,
}

#[derive(Clone)]
pub(crate) struct QueryExecutor {
    pub schema: AppSchema,
    pub db: ReadDb,
    pub feed: ChangeFeed,
    pub timeout: Duration,
    pub position_wait: Duration,
    pub admission: Admission,
    pub docs: Arc<DocCache>,
    /// APQ and trusted documents, shared by every router of the API.
    pub persisted: Arc<PersistedQueries>,
    /// Subscriptions this process may still open, all connections together.
    pub subscriptions: Arc<Semaphore>,
}

fn refused(message: String) -> Response {
    Response::from_errors(vec![ErrorCode::BadUserInput.server_error(message)])
}

fn refused_boxed(message: String) -> Box<Response> {
    Box::new(refused(message))
}

fn data_of<T: Clone + 'static>(data: &Data) -> Option<T> {
    data.get(&TypeId::of::<T>())
        .and_then(|b| b.downcast_ref::<T>())
        .cloned()
}

impl QueryExecutor {
    /// Size, fields, depth; hands the parsed document on (so async-graphql
    /// does not parse again) and returns the projections it reads.
    ///
    /// The parse happens here, first, also because async-graphql's own
    /// pre-validation checks expand fragment spreads without memoising:
    /// a small fragment bomb would cost them exponential time (a fragment
    /// cycle, unbounded recursion) before any limit applies.
    fn admit(
        &self,
        request: &mut Request,
        session: Option<&Data>,
    ) -> Result<Vec<&'static str>, Box<Response>> {
        // First: a hash-only request has no text to check until this.
        let register = self
            .persisted
            .resolve(request, session)
            .map_err(|e| Box::new(Response::from_errors(vec![e])))?;
        let a = &self.admission;
        let len = request.query.len();
        if len > a.max_query_bytes {
            return Err(refused_boxed(format!(
                "query is {len} bytes; the limit is {}",
                a.max_query_bytes
            )));
        }
        let parsed = self.docs.get(&request.query).map_err(|e| {
            let mut r = Response::from_errors(vec![e]);
            ensure_codes(&mut r.errors);
            Box::new(r)
        })?;
        let shape = parsed
            .shape
            .as_ref()
            .map_err(|e| refused_boxed(e.to_string()))?;
        if shape.fields > a.max_fields {
            return Err(refused_boxed(format!(
                "query selects {} fields (aliases and fragments expanded); the limit is {}",
                shape.fields, a.max_fields
            )));
        }
        if shape.expensive > a.max_expensive_fields {
            return Err(refused_boxed(format!(
                "query selects {} expensive fields ({}; aliases and fragments expanded); \
                 the limit is {}",
                shape.expensive,
                crate::shape::EXPENSIVE.join(", "),
                a.max_expensive_fields
            )));
        }
        if shape.depth > a.max_depth {
            return Err(refused_boxed(format!(
                "query nests {} levels deep; the limit is {}",
                shape.depth, a.max_depth
            )));
        }
        if let Some(r) = register {
            self.persisted.remember(r, &request.query);
        }
        request.set_parsed_query(parsed.doc.clone());
        Ok(projections_read(&shape.names).into_iter().collect())
    }

    /// The latency label of the operation `request` names (bounded, see
    /// `operation_label`). The document comes from the parse cache that
    /// [`Self::admit`] uses next, and only within the size limit it applies.
    fn operation_label(&self, request: &Request) -> String {
        let parsed = (request.operation_name.is_none()
            && !request.query.is_empty()
            && request.query.len() <= self.admission.max_query_bytes)
            .then(|| self.docs.get(&request.query).ok())
            .flatten();
        operation_label::label(operation_label::operation_name(
            request.operation_name.as_deref(),
            parsed.as_ref().map(|p| &p.doc),
        ))
    }

    async fn run(&self, mut request: Request) -> Response {
        let reads = match self.admit(&mut request, None) {
            Ok(r) => r,
            Err(response) => return *response,
        };
        let wanted = data_of::<PositionRequest>(&request.data);
        let gate = wanted.map(|w| {
            Arc::new(Gate::new(
                w,
                reads,
                self.position_wait,
                self.db.clone(),
                self.feed.clone(),
            ))
        });
        if let Some(g) = &gate {
            request = request.data(Arc::clone(g));
        }
        request = request.data(loaders(&self.db));
        let mut response =
            match tokio::time::timeout(self.timeout, self.schema.execute(request)).await {
                Ok(r) => r,
                Err(_) => Response::from_errors(vec![ErrorCode::Timeout.server_error(format!(
                    "the request took longer than {} ms",
                    self.timeout.as_millis()
                ))]),
            };
        ensure_codes(&mut response.errors);
        match (wanted, gate) {
            (Some(w), Some(g)) => report(response, w, &g),
            _ => response,
        }
    }
}

fn token_expired() -> Response {
    Response::from_errors(vec![ErrorCode::Unauthenticated.server_error(
        "the connection's token has expired; connect again with a new one",
    )])
}

/// `responses` until the connection's token expires `left` from now; then
/// one `UNAUTHENTICATED` error ends it (so a subscription never outlives
/// the token it was opened with).
fn until_expiry(
    responses: BoxStream<'static, Response>,
    left: Duration,
) -> BoxStream<'static, Response> {
    let expired = Box::pin(tokio::time::sleep(left));
    stream::unfold(Some((responses, expired)), |state| async move {
        let (mut responses, mut expired) = state?;
        tokio::select! {
            r = responses.next() => r.map(|r| (r, Some((responses, expired)))),
            () = &mut expired => Some((token_expired(), None)),
        }
    })
    .boxed()
}

/// Adds `extensions.consistency`; a strict request that got stale data
/// gets one `STALE` error instead of the data.
fn report(mut response: Response, wanted: PositionRequest, gate: &Gate) -> Response {
    let freshness = match gate.outcome() {
        Some(Ok(f)) => f.clone(),
        // The error is in the response already.
        Some(Err(_)) => return response,
        // Nothing read needed waiting for.
        None if response.errors.is_empty() => Freshness {
            fresh: true,
            requested: wanted.position,
            waited: Duration::ZERO,
            checkpoints: Default::default(),
        },
        None => return response,
    };
    if !freshness.fresh && wanted.strict {
        let e = stale(&freshness).into_server_error(Default::default());
        response = Response::from_errors(vec![e]);
    }
    response.extensions.insert(
        "consistency".to_owned(),
        Value::from_json(freshness.to_json()).unwrap_or(Value::Null),
    );
    response
}

impl Executor for QueryExecutor {
    async fn execute(&self, request: Request) -> Response {
        let started = Instant::now();
        let operation = self.operation_label(&request);
        let response = self.run(request).await;
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        metrics::histogram!(
            "orderflow_query_operation_duration_seconds",
            "outcome" => outcome,
            "operation" => operation,
        )
        .record(started.elapsed().as_secs_f64());
        response
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        if let Err(response) = self.admit(&mut request, session_data.as_deref()) {
            return stream::once(async move { *response }).boxed();
        }
        let slots = session_data
            .as_ref()
            .and_then(|d| data_of::<SubscriptionSlots>(d));
        let permit = match slots {
            None => None,
            Some(s) => match s.0.try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    return stream::once(async {
                        refused("too many subscriptions on this connection".into())
                    })
                    .boxed();
                }
            },
        };
        // Not the client's fault: the process is at its limit.
        let Ok(total) = Arc::clone(&self.subscriptions).try_acquire_owned() else {
            metrics::counter!("orderflow_query_subscriptions_refused_total").increment(1);
            return stream::once(async {
                Response::from_errors(vec![ErrorCode::LimitExceeded.server_error(
                    "this server has as many subscriptions open as it allows; try again later",
                )])
            })
            .boxed();
        };
        let expiry = session_data
            .as_ref()
            .and_then(|d| data_of::<TokenExpiry>(d));
        let now = orderflow_auth::unix_now();
        if expiry.is_some_and(|e| e.0 <= now) {
            return stream::once(async { token_expired() }).boxed();
        }
        let request = request.data(loaders(&self.db));
        let responses = self
            .schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |mut r| {
                // The slots are held for as long as the stream lives.
                let _held = (&permit, &total);
                ensure_codes(&mut r.errors);
                r
            })
            .boxed();
        match expiry {
            Some(e) => until_expiry(responses, Duration::from_secs(e.0.saturating_sub(now))),
            None => responses,
        }
    }
}
