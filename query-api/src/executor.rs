//! Runs operations for HTTP and WebSocket alike: per-request loaders, the
//! per-request timeout, and a cap on subscriptions per connection.

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::futures_util::stream::{self, BoxStream, StreamExt};
use async_graphql::{Data, Executor, Request, Response};
use tokio::sync::Semaphore;

use crate::db::ReadDb;
use crate::error::ErrorCode;
use crate::loaders::loaders;
use crate::schema::AppSchema;

/// Subscriptions one WebSocket may still open (its connection data).
#[derive(Debug, Clone)]
pub(crate) struct SubscriptionSlots(pub Arc<Semaphore>);

#[derive(Clone)]
pub(crate) struct QueryExecutor {
    pub schema: AppSchema,
    pub db: ReadDb,
    pub timeout: Duration,
}

impl Executor for QueryExecutor {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        let schema = self.schema.clone();
        let request = request.data(loaders(&self.db));
        let limit = self.timeout;
        async move {
            let started = Instant::now();
            let response = match tokio::time::timeout(limit, schema.execute(request)).await {
                Ok(r) => r,
                Err(_) => Response::from_errors(vec![ErrorCode::Timeout.server_error(format!(
                    "the request took longer than {} ms",
                    limit.as_millis()
                ))]),
            };
            let outcome = if response.errors.is_empty() {
                "ok"
            } else {
                "error"
            };
            metrics::histogram!("orderflow_query_operation_duration_seconds", "outcome" => outcome)
                .record(started.elapsed().as_secs_f64());
            response
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let slots = session_data
            .as_ref()
            .and_then(|d| d.get(&TypeId::of::<SubscriptionSlots>()))
            .and_then(|b| b.downcast_ref::<SubscriptionSlots>())
            .cloned();
        let permit = match slots {
            None => None,
            Some(s) => match s.0.try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    return stream::once(async {
                        Response::from_errors(vec![
                            ErrorCode::BadUserInput
                                .server_error("too many subscriptions on this connection"),
                        ])
                    })
                    .boxed();
                }
            },
        };
        let request = request.data(loaders(&self.db));
        self.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |r| {
                // The slot is held for as long as the stream lives.
                let _held = &permit;
                r
            })
            .boxed()
    }
}
