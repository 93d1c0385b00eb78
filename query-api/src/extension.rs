//! The checks and the waiting every operation goes through, as an
//! async-graphql extension so HTTP and WebSocket operations get the same:
//! query size, fields and depth (before async-graphql looks at the
//! document, so before any resolver), the read-your-writes wait (after
//! validation, before execution), and an `extensions.code` on every error.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextRequest,
    NextSubscribe,
};
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::{Request, Response, ServerError, ServerResult, Value};

use crate::consistency::{PositionRequest, projections_read, wait_for};
use crate::doc_cache::DocCache;
use crate::error::{ErrorCode, ensure_codes};
use crate::services::Services;

#[derive(Debug, Clone)]
pub(crate) struct GuardLimits {
    pub max_query_bytes: usize,
    pub max_fields: usize,
    pub max_depth: usize,
}

/// Creates one [`Guard`] per operation.
#[derive(Debug)]
pub(crate) struct Guards {
    limits: GuardLimits,
    docs: Arc<DocCache>,
}

impl Guards {
    pub fn new(limits: GuardLimits) -> Guards {
        Guards {
            limits,
            docs: Arc::default(),
        }
    }
}

impl ExtensionFactory for Guards {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard {
            limits: self.limits.clone(),
            docs: Arc::clone(&self.docs),
            reads: Mutex::new(BTreeSet::new()),
        })
    }
}

struct Guard {
    limits: GuardLimits,
    docs: Arc<DocCache>,
    /// The projections the parsed operation reads.
    reads: Mutex<BTreeSet<&'static str>>,
}

fn refuse(message: String) -> ServerError {
    ErrorCode::BadUserInput.server_error(message)
}

#[async_trait::async_trait]
impl Extension for Guard {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        ensure_codes(&mut response.errors);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut r| {
                ensure_codes(&mut r.errors);
                r
            })
            .boxed()
    }

    /// Parses the query here (or finds it parsed before), ahead of
    /// async-graphql: its own pre-validation checks (recursion depth,
    /// directives) expand fragment spreads without memoising, and would
    /// spend exponential time on a fragment bomb (or recurse without end on
    /// a cycle) before any limit applies. The parsed document is handed on,
    /// so async-graphql does not parse it again.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let len = request.query.len();
        if len > self.limits.max_query_bytes {
            return Err(refuse(format!(
                "query is {len} bytes; the limit is {}",
                self.limits.max_query_bytes
            )));
        }
        let parsed = self.docs.get(&request.query)?;
        let shape = parsed.shape.as_ref().map_err(|e| refuse(e.to_string()))?;
        if shape.fields > self.limits.max_fields {
            return Err(refuse(format!(
                "query selects {} fields (aliases and fragments expanded); the limit is {}",
                shape.fields, self.limits.max_fields
            )));
        }
        if shape.depth > self.limits.max_depth {
            return Err(refuse(format!(
                "query nests {} levels deep; the limit is {}",
                shape.depth, self.limits.max_depth
            )));
        }
        if let Ok(mut reads) = self.reads.lock() {
            *reads = projections_read(&shape.names);
        }
        request.set_parsed_query(parsed.doc.clone());
        next.run(ctx, request).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(wanted) = ctx.data_opt::<PositionRequest>().copied() else {
            return next.run(ctx, operation_name).await;
        };
        let Some(services) = ctx.data_opt::<Services>() else {
            return Response::from_errors(vec![
                ErrorCode::Internal.server_error("service state missing"),
            ]);
        };
        let names: Vec<&'static str> = self
            .reads
            .lock()
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        let waited = wait_for(
            &services.db,
            &services.feed,
            &names,
            wanted.position,
            services.position_wait,
        )
        .await;
        let freshness = match waited {
            Ok(f) => f,
            Err(e) => {
                let e: async_graphql::Error = e.into();
                return Response::from_errors(vec![e.into_server_error(Default::default())]);
            }
        };
        let extension = Value::from_json(freshness.to_json()).unwrap_or(Value::Null);
        let mut response = if !freshness.fresh && wanted.strict {
            Response::from_errors(vec![ErrorCode::Stale.server_error(format!(
                "read models {} have not reached position {} after {} ms",
                freshness.behind().join(", "),
                wanted.position,
                freshness.waited.as_millis()
            ))])
        } else {
            next.run(ctx, operation_name).await
        };
        response
            .extensions
            .insert("consistency".to_owned(), extension);
        response
    }
}
