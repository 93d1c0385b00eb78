//! The service assembled: schema, connections, routes and layers.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orderflow_auth::{Forbidden, Principal, RateLimiter, Role, Verifier};
use orderflow_event_store::EventStore;
use orderflow_observability::{
    ReadinessCheck, correlation_layer, http_metrics_layer, metrics_response, probe_routes_noting,
};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::QueryApiConfig;
use crate::console::{self, Console};
use crate::db::ReadDb;
use crate::doc_cache::DocCache;
use crate::error::{ErrorCode, QueryApiError};
use crate::executor::{Admission, QueryExecutor};
use crate::http::{HttpState, graphql_get, graphql_post};
use crate::notices::ChangeFeed;
use crate::persisted::PersistedQueries;
use crate::schema::{AppSchema, build_schema};
use crate::services::Services;
use crate::ws_clients::WsClients;

/// A ready-to-serve query API.
#[derive(Clone)]
pub struct QueryApi {
    db: ReadDb,
    feed: ChangeFeed,
    schema: AppSchema,
    config: QueryApiConfig,
    /// Shared by every router made from this API.
    docs: Arc<DocCache>,
    /// Subscriptions still allowed, all routers together.
    subscriptions: Arc<Semaphore>,
    /// WebSocket connections per client address, all routers together.
    ws_clients: Arc<WsClients>,
    /// APQ cache and trusted documents, all routers together.
    persisted: Arc<PersistedQueries>,
    /// One per API, shared by its routers; `None` when limits are off.
    rate_limiter: Option<Arc<RateLimiter>>,
    /// Checks every operation's bearer token.
    verifier: Arc<Verifier>,
    /// The operator console's state, all routers together.
    console: Arc<Console>,
}

impl std::fmt::Debug for QueryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryApi")
            .field("addr", &self.config.addr)
            .finish_non_exhaustive()
    }
}

impl QueryApi {
    /// Connects as `config` says. The databases are connected lazily and
    /// NATS in the background, so this succeeds while they are away
    /// (`/readyz` tells). `events`, any store, answers `projections { head
    /// lag }` (unless `config.store_status` is off). `verifier` checks the
    /// bearer token every operation needs (there is no query API without
    /// one).
    pub async fn connect(
        config: &QueryApiConfig,
        events: Option<Arc<dyn EventStore>>,
        verifier: Arc<Verifier>,
    ) -> Result<QueryApi, QueryApiError> {
        let db = ReadDb::connect_lazy(
            &config.read_database_url,
            config.max_connections,
            config.limits.statement_timeout,
        )?;
        let events = events.filter(|_| config.store_status);
        let feed = ChangeFeed::connect(&config.nats_url, &config.subject_prefix).await;
        Ok(QueryApi::from_parts(
            db,
            feed,
            events,
            config.clone(),
            verifier,
        ))
    }

    /// On existing connections (`orderflow up`, tests).
    pub fn from_parts(
        db: ReadDb,
        feed: ChangeFeed,
        events: Option<Arc<dyn EventStore>>,
        config: QueryApiConfig,
        verifier: Arc<Verifier>,
    ) -> QueryApi {
        let services = Services {
            db: db.clone(),
            feed: feed.clone(),
            max_page_size: config.limits.max_page_size,
            events,
        };
        let console = Arc::new(Console::new(
            services.clone(),
            &db.pool().connect_options(),
            config.console.clone(),
            Arc::clone(&verifier),
        ));
        let schema = build_schema(services, &config.limits);
        QueryApi {
            console,
            db,
            feed,
            schema,
            subscriptions: Arc::new(Semaphore::new(
                config
                    .limits
                    .max_subscriptions_total
                    .min(Semaphore::MAX_PERMITS),
            )),
            ws_clients: WsClients::new(config.limits.max_ws_connections_per_client),
            // Keyed by the verified subject (per IP without a valid token).
            rate_limiter: RateLimiter::with_verifier(&config.rate_limit, Arc::clone(&verifier)),
            verifier,
            persisted: Arc::new(PersistedQueries::new(&config.persisted)),
            config,
            docs: Arc::default(),
        }
    }

    /// The read database handle (its statement counter included).
    pub fn db(&self) -> &ReadDb {
        &self.db
    }

    pub fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    pub fn schema(&self) -> &AppSchema {
        &self.schema
    }

    /// `/graphql` (every operation with a bearer token), `/metrics` (an
    /// operator's token), and `/healthz`, `/readyz` (which names the auth
    /// mode), the GraphiQL page (`GET /graphql` from a browser) and its
    /// files without one, as on the command API.
    pub fn router(&self) -> Router {
        // Exported at zero from the start: alerts and dashboards see "none
        // yet", not "no data".
        for counter in [
            "orderflow_http_panics_total",
            "orderflow_query_internal_errors_total",
            "orderflow_query_statement_timeouts_total",
            "orderflow_query_pool_timeouts_total",
        ] {
            metrics::counter!(counter).increment(0);
        }
        metrics::gauge!("orderflow_query_subscriptions_active").increment(0.0);
        let limits = &self.config.limits;
        // Install the recorder now: series recorded before the first scrape
        // would otherwise be lost.
        orderflow_observability::prometheus_handle();
        let state = HttpState {
            executor: QueryExecutor {
                schema: self.schema.clone(),
                db: self.db.clone(),
                feed: self.feed.clone(),
                timeout: limits.request_timeout,
                position_wait: self.config.position_wait,
                admission: Admission {
                    max_query_bytes: limits.max_query_bytes,
                    max_fields: limits.max_fields,
                    max_expensive_fields: limits.max_expensive_fields,
                    max_depth: limits.max_depth,
                },
                docs: Arc::clone(&self.docs),
                persisted: Arc::clone(&self.persisted),
                subscriptions: Arc::clone(&self.subscriptions),
            },
            max_batch: limits.max_batch,
            max_ws_message: limits.max_body_bytes,
            max_subscriptions: limits.max_subscriptions_per_connection,
            ws_clients: Arc::clone(&self.ws_clients),
            verifier: Arc::clone(&self.verifier),
        };
        let auth_mode = self.verifier.mode().as_str();
        let ready_db = self.db.clone();
        let ready: ReadinessCheck = Arc::new(move || {
            let db = ready_db.clone();
            Box::pin(async move { db.ready().await })
        });
        let app = Router::new()
            .route("/graphql", get(graphql_get).post(graphql_post))
            .route("/metrics", get(operator_metrics))
            .with_state(state)
            .merge(crate::graphiql::asset_routes())
            .merge(console::router(Arc::clone(&self.console)))
            .merge(probe_routes_noting(ready, &[("auth", auth_mode)]))
            .layer(DefaultBodyLimit::max(limits.max_body_bytes))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(axum::middleware::from_fn(http_metrics_layer))
            .layer(axum::middleware::from_fn(correlation_layer));
        // Outermost, as on the command API.
        match &self.rate_limiter {
            Some(limiter) => limiter.wrap(app),
            None => app,
        }
    }
}

/// `/metrics` on the public port is for operators, as on the command API;
/// Prometheus scrapes the internal `METRICS_ADDR` listener instead.
async fn operator_metrics(principal: Principal) -> Result<Response, Forbidden> {
    principal.require_any_role(&[Role::Operator])?;
    Ok(metrics_response())
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("query handler panicked");
    metrics::counter!("orderflow_http_panics_total").increment(1);
    let body = async_graphql::Response::from_errors(vec![
        ErrorCode::Internal.server_error("internal error; see the server log"),
    ]);
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(body),
    )
        .into_response()
}
