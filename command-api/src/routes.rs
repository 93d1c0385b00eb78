//! The HTTP endpoints. Each command endpoint turns its body into a domain
//! command, runs it through the [`CommandHandler`], and answers with the
//! order's new state, its `ETag` and the position token.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_auth::Principal;
use orderflow_domain::{OrderCommand, OrderId};
use orderflow_event_store::{AppendResult, Position};
use utoipa::IntoResponses;
use utoipa::openapi::RefOr;

use crate::AppState;
use crate::access::{Scope, check_new_order_customer, guard, order_not_found};
use crate::commands::sku_from_path;
use crate::dto::{
    AddItemRequest, AddressDto, ChangeQuantityRequest, CreateOrderRequest, EventHistory,
    EventMetadataView, EventView, OrderView, PaymentRequest, ReasonRequest, RefundRequest,
    ShipRequest,
};
use crate::extract::{CommandHeaders, JsonBody, parse_order_id};
use crate::handler::{CommandContext, CommandError, CommandOutcome};
use crate::paging::EventsPage;
use crate::problem::{Problem, ProblemKind, error_responses};

pub use orderflow_wire::http::POSITION_HEADER;

/// Every error a command endpoint can answer with.
const COMMAND_ERRORS: &[ProblemKind] = &[
    ProblemKind::MalformedJson,
    ProblemKind::InvalidBody,
    ProblemKind::InvalidRequest,
    ProblemKind::NotFound,
    ProblemKind::BusinessRule,
    ProblemKind::Contention,
    ProblemKind::PreconditionFailed,
    ProblemKind::PayloadTooLarge,
    ProblemKind::UnsupportedMediaType,
    ProblemKind::Validation,
    ProblemKind::IdempotencyKeyReused,
    ProblemKind::Internal,
    ProblemKind::Unavailable,
    ProblemKind::OutcomeUnknown,
];

/// Errors of `GET /orders/{id}`.
const READ_ERRORS: &[ProblemKind] = &[
    ProblemKind::NotFound,
    ProblemKind::Internal,
    ProblemKind::Unavailable,
];

/// Errors of `GET /orders/{id}/events`: a read, plus its query parameters.
const HISTORY_ERRORS: &[ProblemKind] = &[
    ProblemKind::InvalidRequest,
    ProblemKind::NotFound,
    ProblemKind::Internal,
    ProblemKind::Unavailable,
];

/// A type for utoipa's `responses(...)` whose responses are those of a
/// list of problem kinds.
macro_rules! documented_errors {
    ($name:ident, $kinds:expr) => {
        #[doc = concat!("The OpenAPI responses of [`", stringify!($kinds), "`].")]
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                error_responses($kinds)
            }
        }
    };
}

documented_errors!(CommandErrors, COMMAND_ERRORS);
documented_errors!(ReadErrors, READ_ERRORS);
documented_errors!(HistoryErrors, HISTORY_ERRORS);

pub(crate) fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

pub(crate) fn position_header(position: Position) -> HeaderValue {
    HeaderValue::from_str(&position.to_string()).unwrap_or(HeaderValue::from_static("0.0"))
}

fn render(state: &orderflow_domain::OrderState) -> serde_json::Value {
    serde_json::to_value(OrderView::from_state(state)).unwrap_or_default()
}

/// Who runs a command: the token's principal, and the orders the access
/// table lets it reach.
pub(crate) struct Caller {
    principal: Principal,
    scope: Scope,
}

impl Caller {
    pub(crate) fn of(principal: Principal, operation: &str) -> Result<Caller, Problem> {
        let scope = guard(&principal, operation)?;
        Ok(Caller { principal, scope })
    }

    /// The command's context: the headers' conditions, and who asks.
    pub(crate) fn context(self, headers: CommandHeaders, body: &[u8]) -> CommandContext {
        let mut ctx = headers.with_body(body);
        // The audit trail names the token's subject, never a header's claim.
        let principal = self.principal;
        if let Some(idem) = &mut ctx.idempotency {
            idem.owner = Some(principal.subject.clone());
        }
        ctx.actor = Some(principal.subject);
        ctx.actor_roles = principal
            .roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        ctx.actor_client_id = principal.client_id;
        ctx.owner = match self.scope {
            Scope::AnyOrder => None,
            Scope::OwnOrders(customer) => Some(customer),
        };
        ctx
    }
}

/// Runs one command and shapes the success response (first or replayed).
async fn run(
    state: &AppState,
    caller: Caller,
    order_id: OrderId,
    command: OrderCommand,
    headers: CommandHeaders,
    body: &[u8],
    created: bool,
) -> Result<Response, Problem> {
    let ctx = caller.context(headers, body);
    // A replay is of the same method and path (the key's hash says so), so
    // it answers with the same status as the first run.
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let outcome = state.handler.execute(order_id, &command, &ctx).await;
    let label = match &outcome {
        Ok(CommandOutcome::Applied { .. }) => "applied",
        Ok(CommandOutcome::Replayed { .. }) => "replayed",
        Err(e) => outcome_label(e),
    };
    metrics::counter!("orderflow_commands_total", "command" => command.name(), "outcome" => label)
        .increment(1);
    let (order_id, order, result, replayed) = match outcome? {
        CommandOutcome::Applied { state, result } => (order_id, state, result, false),
        CommandOutcome::Replayed { id, state, result } => (id, state, result, true),
    };
    Ok(success(
        status,
        render(&order),
        result,
        order_id,
        created,
        replayed,
    ))
}

pub(crate) fn outcome_label<R>(e: &CommandError<R>) -> &'static str {
    match e {
        CommandError::Rejected(_) => "rejected",
        CommandError::PreconditionFailed { .. } => "precondition_failed",
        CommandError::IdempotencyKeyReused => "idempotency_key_reused",
        CommandError::Contention(_) => "contention",
        CommandError::Decode(_) => "error",
        CommandError::Store(_) => "store_error",
    }
}

fn success(
    status: StatusCode,
    body: serde_json::Value,
    result: AppendResult,
    order_id: OrderId,
    created: bool,
    replayed: bool,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(result.stream_version));
    headers.insert(POSITION_HEADER, position_header(result.position));
    if created
        && let Ok(location) = HeaderValue::from_str(&format!("/orders/{}", order_id.as_uuid()))
    {
        headers.insert(header::LOCATION, location);
    }
    if replayed {
        headers.insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    (status, headers, Json(body)).into_response()
}

/// A command endpoint on an existing order: its OpenAPI operation and its
/// handler, which turns the body (if the endpoint takes one) into the
/// command and runs it. (`ident` and `literal` reach utoipa as plain tokens.)
macro_rules! order_command {
    ($(#[doc = $doc:tt])* $method:ident $path:literal, $name:ident($body:ident) => |$b:ident| $command:expr) => {
        $(#[doc = $doc])*
        #[utoipa::path($method, path = $path, tag = "orders",
            request_body = $body,
            params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
            responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
        pub async fn $name(
            State(state): State<AppState>,
            principal: Principal,
            Path(id): Path<String>,
            headers: CommandHeaders,
            body: JsonBody<$body>,
        ) -> Result<Response, Problem> {
            let caller = Caller::of(principal, stringify!($name))?;
            let order_id = parse_order_id(&id)?;
            let $b = &body.value;
            let command: Result<OrderCommand, Problem> = $command;
            run(&state, caller, order_id, command?, headers, &body.bytes, false).await
        }
    };
    ($(#[doc = $doc:tt])* $method:ident $path:literal, $name:ident => $command:expr) => {
        $(#[doc = $doc])*
        #[utoipa::path($method, path = $path, tag = "orders",
            params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
            responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
        pub async fn $name(
            State(state): State<AppState>,
            principal: Principal,
            Path(id): Path<String>,
            headers: CommandHeaders,
        ) -> Result<Response, Problem> {
            let caller = Caller::of(principal, stringify!($name))?;
            let order_id = parse_order_id(&id)?;
            run(&state, caller, order_id, $command, headers, b"", false).await
        }
    };
}

/// Create a draft order. The server mints the order id (UUIDv7).
#[utoipa::path(post, path = "/orders", tag = "orders",
    request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retried request")),
    responses(
        (status = 201, description = "Created", body = OrderView, headers(
            ("Location" = String, description = "/orders/{id}"),
            ("ETag" = String, description = "Stream version"),
            ("X-Orderflow-Position" = String, description = "Position token for read-your-writes"))),
        CommandErrors))]
pub async fn create_order(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    body: JsonBody<CreateOrderRequest>,
) -> Result<Response, Problem> {
    let caller = Caller::of(principal, "create_order")?;
    let order_id = OrderId::new(uuid::Uuid::now_v7());
    let command = body.value.command(order_id)?;
    if let OrderCommand::CreateOrder { customer_id, .. } = &command {
        check_new_order_customer(&caller.scope, customer_id)?;
    }
    run(
        &state,
        caller,
        order_id,
        command,
        headers,
        &body.bytes,
        true,
    )
    .await
}

order_command! {
    /// Add an item, or raise the quantity of a sku already on the order.
    post "/orders/{id}/items", add_item(AddItemRequest) => |b| b.command()
}

/// Set the quantity of one line.
#[utoipa::path(patch, path = "/orders/{id}/items/{sku}", tag = "orders",
    request_body = ChangeQuantityRequest,
    params(("id" = String, Path), ("sku" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn change_item_quantity(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, sku)): Path<(String, String)>,
    headers: CommandHeaders,
    body: JsonBody<ChangeQuantityRequest>,
) -> Result<Response, Problem> {
    let caller = Caller::of(principal, "change_item_quantity")?;
    let order_id = parse_order_id(&id)?;
    let command = body.value.command(sku_from_path(&sku)?)?;
    run(
        &state,
        caller,
        order_id,
        command,
        headers,
        &body.bytes,
        false,
    )
    .await
}

/// Remove one line.
#[utoipa::path(delete, path = "/orders/{id}/items/{sku}", tag = "orders",
    params(("id" = String, Path), ("sku" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn remove_item(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, sku)): Path<(String, String)>,
    headers: CommandHeaders,
) -> Result<Response, Problem> {
    let caller = Caller::of(principal, "remove_item")?;
    let order_id = parse_order_id(&id)?;
    let sku = sku_from_path(&sku)?;
    run(
        &state,
        caller,
        order_id,
        OrderCommand::RemoveItem { sku },
        headers,
        b"",
        false,
    )
    .await
}

order_command! {
    /// Set or replace the shipping address.
    put "/orders/{id}/shipping-address", set_shipping_address(AddressDto) => |b| Ok(b.command())
}

order_command! {
    /// Submit a draft (needs items and an address).
    post "/orders/{id}/submit", submit => OrderCommand::SubmitOrder
}

order_command! {
    /// Confirm a submitted order (stock secured).
    post "/orders/{id}/confirm", confirm => OrderCommand::ConfirmOrder
}

order_command! {
    /// Mark a shipped order delivered.
    post "/orders/{id}/deliver", deliver => OrderCommand::MarkDelivered
}

order_command! {
    /// Reject a submitted order.
    post "/orders/{id}/reject", reject(ReasonRequest) => |b| Ok(b.reject())
}

order_command! {
    /// Cancel an order (from draft, submitted, confirmed or paid).
    post "/orders/{id}/cancel", cancel(ReasonRequest) => |b| Ok(b.cancel())
}

order_command! {
    /// Record the payment of a confirmed order (must equal the total).
    post "/orders/{id}/payments", record_payment(PaymentRequest) => |b| b.command()
}

order_command! {
    /// Ship a paid order.
    post "/orders/{id}/ship", ship(ShipRequest) => |b| Ok(b.command())
}

order_command! {
    /// Refund (part of) what was paid.
    post "/orders/{id}/refunds", issue_refund(RefundRequest) => |b| b.command()
}

/// The order's write-side state, folded from its events.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = String, Path)),
    responses((status = 200, description = "The order", body = OrderView,
        headers(("ETag" = String, description = "Stream version"))), ReadErrors))]
pub async fn get_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let scope = guard(&principal, "get_order")?;
    let order_id = parse_order_id(&id)?;
    let (order, events) = state.handler.load(order_id).await?;
    if !scope.admits(&order) {
        return Err(order_not_found(&id));
    }
    let view = OrderView::from_state(&order).ok_or_else(|| order_not_found(&id))?;
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(order.version));
    if let Some((last, _)) = events.last() {
        headers.insert(POSITION_HEADER, position_header(last.position));
    }
    Ok((headers, Json(view)).into_response())
}

/// The order's events, oldest first, with metadata: its audit trail. Paged
/// by stream version: a `Link: <…>; rel="next"` header names the next page
/// while there is one.
#[utoipa::path(get, path = "/orders/{id}/events", tag = "orders",
    params(("id" = String, Path),
        ("after" = Option<u64>, Query, minimum = 0, description = "Only events with a stream version above this one (default 0: from the start)"),
        ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "One page of the event history", body = EventHistory,
        headers(("ETag" = String, description = "Stream version"),
            ("Link" = String, description = "`</orders/{id}/events?after=N&limit=L>; rel=\"next\"` while more events follow"))),
        HistoryErrors))]
pub async fn get_order_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    page: EventsPage,
) -> Result<Response, Problem> {
    let scope = guard(&principal, "get_order_events")?;
    let order_id = parse_order_id(&id)?;
    let (order, events) = state.handler.load(order_id).await?;
    if events.is_empty() || !scope.admits(&order) {
        return Err(order_not_found(&id));
    }
    // The whole stream was read: it is bounded by the domain's cap of
    // events per order, and the fold needs all of it for `version` anyway.
    let events: Vec<EventView> = events
        .into_iter()
        .filter(|(r, _)| r.stream_version > page.after)
        .take(page.limit as usize)
        .map(|(r, e)| EventView {
            event_id: r.event_id,
            event_type: r.event_type,
            schema_version: e.schema_version(),
            stream_version: r.stream_version,
            position: r.position.to_string(),
            recorded_at: r.recorded_at,
            data: e.payload(),
            metadata: EventMetadataView {
                correlation_id: r.metadata.correlation_id,
                causation_id: r.metadata.causation_id,
                actor: r.metadata.actor,
                actor_roles: r.metadata.actor_roles,
                actor_client_id: r.metadata.actor_client_id,
                traceparent: r.metadata.traceparent,
            },
        })
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(order.version));
    let last = events.last().map(|e| e.stream_version);
    if let Some(last) = last.filter(|&last| last < order.version) {
        let next = format!(
            "</orders/{}/events?after={last}&limit={}>; rel=\"next\"",
            order_id.as_uuid(),
            page.limit
        );
        if let Ok(value) = HeaderValue::from_str(&next) {
            headers.insert(header::LINK, value);
        }
    }
    let history = EventHistory {
        order_id: order_id.as_uuid().to_string(),
        version: order.version,
        events,
    };
    Ok((headers, Json(history)).into_response())
}
