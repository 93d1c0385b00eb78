//! The router: routes, OpenAPI document, and the layers every request goes
//! through (correlation id, metrics, panic catching, body limit).

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orderflow_auth::{Forbidden, Principal, Role, Verifier};
use orderflow_event_store::EventStore;
use orderflow_observability::{
    ReadinessCheck, correlation_layer, http_metrics_layer, metrics_response, probe_routes_noting,
};
use orderflow_payments::WebhookConfig;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::handler::{CommandHandler, InventoryHandler};
use crate::problem::{FieldError, Problem, ProblemDetails, ProblemKind};
use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "orderflow command API", description = "Commands on orders and on the stock of skus. Errors are application/problem+json (RFC 9457) with a stable `type` and `code`."),
    tags((name = "orders", description = "Order commands and the write-side view"),
        (name = "inventory", description = "The stock of a sku: receipts, count corrections and the write-side view"),
        (name = "webhooks", description = "Notifications from the payment provider, signed with a shared secret instead of a bearer token")),
    components(schemas(ProblemDetails, FieldError))
)]
struct ApiDoc;

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub handler: CommandHandler,
    /// The stock of skus, on the same store.
    pub inventory: InventoryHandler,
    /// Checks every request's bearer token (the `Principal` extractor).
    pub verifier: Arc<Verifier>,
    /// Checks the payment provider's signed notifications.
    pub payment_webhook: Arc<WebhookConfig>,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Arc<Verifier> {
        state.verifier.clone()
    }
}

/// Largest accepted body by default; an order with 100 items fits easily.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The full application: API routes, `/openapi.json`, its reference page
/// `/docs`, health and metrics. Every API route needs a bearer token that
/// `verifier` accepts, except the payment webhook, which needs the
/// provider's signature (and refuses everything here, where no webhook
/// secret is configured); `/metrics` needs an operator's token; health,
/// the OpenAPI document and its page (public documentation) need neither.
pub fn router(store: Arc<dyn EventStore>, body_limit: usize, verifier: Arc<Verifier>) -> Router {
    router_with_handler(CommandHandler::new(store), body_limit, verifier)
}

/// [`router`] around a given handler, e.g. one whose counters a test reads.
pub fn router_with_handler(
    handler: CommandHandler,
    body_limit: usize,
    verifier: Arc<Verifier>,
) -> Router {
    router_with_webhook(handler, body_limit, verifier, WebhookConfig::default())
}

/// [`router_with_handler`] whose payment webhook accepts notifications
/// signed as `payment_webhook` says.
pub fn router_with_webhook(
    handler: CommandHandler,
    body_limit: usize,
    verifier: Arc<Verifier>,
    payment_webhook: WebhookConfig,
) -> Router {
    let (api, _) = api_router().split_for_parts();
    // Install the recorder now: series recorded before the first scrape
    // would otherwise be lost.
    orderflow_observability::prometheus_handle();
    let openapi_json = openapi_json();
    let ready_store = handler.store().clone();
    let ready: ReadinessCheck = Arc::new(move || {
        let store = ready_store.clone();
        Box::pin(async move { store.head().await.map(|_| ()).map_err(|e| e.to_string()) })
    });
    let auth_mode = verifier.mode().as_str();
    // Exported at zero from the start: alerts see "none yet", not "no data".
    metrics::counter!("orderflow_http_panics_total").increment(0);
    let inventory = InventoryHandler::new(handler.store().clone());
    let state = AppState {
        handler,
        inventory,
        verifier,
        payment_webhook: Arc::new(payment_webhook),
    };
    let app = api
        .route(
            "/openapi.json",
            get(move || {
                let doc = openapi_json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        doc,
                    )
                }
            }),
        )
        .route("/metrics", get(operator_metrics))
        .with_state(state)
        .merge(crate::docs::routes())
        .merge(probe_routes_noting(ready, &[("auth", auth_mode)]));
    with_common_layers(app, body_limit)
}

/// `/metrics` on the public port is for operators: its series name routes,
/// subscribers and error kinds, and their rates tell an outsider about load
/// and failures. Prometheus scrapes `METRICS_ADDR`, an internal listener
/// without a token, instead.
async fn operator_metrics(principal: Principal) -> Result<Response, Forbidden> {
    principal.require_any_role(&[Role::Operator])?;
    Ok(metrics_response())
}

/// The OpenAPI document, as served at `/openapi.json`: what utoipa derives
/// from the routes and bodies, plus every constraint the server enforces
/// (see [`crate::contract`]).
pub fn openapi() -> serde_json::Value {
    let derived = api_router().split_for_parts().1;
    // Serializing plain data (strings, maps, numbers) cannot fail.
    let mut doc = serde_json::to_value(&derived).unwrap_or_default();
    crate::contract::tighten(&mut doc);
    crate::access::document(&mut doc);
    doc
}

/// [`openapi`] as pretty JSON with a final newline, byte for byte the
/// committed `command-api/openapi.json`.
pub fn openapi_json() -> String {
    let mut text = serde_json::to_string_pretty(&openapi()).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::create_order))
        .routes(routes!(routes::get_order))
        .routes(routes!(routes::get_order_events))
        .routes(routes!(routes::add_item))
        .routes(routes!(routes::change_item_quantity, routes::remove_item))
        .routes(routes!(routes::set_shipping_address))
        .routes(routes!(routes::submit))
        .routes(routes!(routes::confirm))
        .routes(routes!(routes::reject))
        .routes(routes!(routes::record_payment))
        .routes(routes!(routes::ship))
        .routes(routes!(routes::deliver))
        .routes(routes!(routes::cancel))
        .routes(routes!(routes::issue_refund))
        .routes(routes!(crate::webhooks::payment_webhook))
        .routes(routes!(crate::inventory::get_stock))
        .routes(routes!(crate::inventory::receive_stock))
        .routes(routes!(crate::inventory::adjust_stock))
}

/// Fallbacks and layers shared by the app and by tests of the layers.
pub fn with_common_layers(router: Router, body_limit: usize) -> Router {
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(http_metrics_layer))
        .layer(axum::middleware::from_fn(correlation_layer))
}

async fn route_not_found(method: Method, uri: axum::http::Uri) -> Problem {
    Problem::new(
        ProblemKind::RouteNotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Problem {
    Problem::new(
        ProblemKind::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(panic = %what, "handler panicked");
    metrics::counter!("orderflow_http_panics_total").increment(1);
    Problem::new(
        ProblemKind::Internal,
        "internal error; see the server log for this correlation id",
    )
    .into_response()
}
