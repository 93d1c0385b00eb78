//! The HTTP endpoints. Each command endpoint turns its body into a domain
//! command, runs it through the [`CommandHandler`], and answers with the
//! order's new state, its `ETag` and the position token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_domain::{OrderCommand, OrderId, Sku};
use orderflow_event_store::{AppendResult, Position, StoreError};
use utoipa::IntoResponses;

use crate::AppState;
use crate::dto::{
    AddItemRequest, AddressDto, ChangeQuantityRequest, CreateOrderRequest, EventHistory,
    EventMetadataView, EventView, Fields, OrderView, PaymentRequest, ReasonRequest, RefundRequest,
    ShipRequest,
};
use crate::errors::command_problem;
use crate::extract::{CommandHeaders, JsonBody, parse_order_id};
use crate::handler::{CommandError, CommandOutcome};
use crate::paging::EventsPage;
use crate::problem::{Problem, ProblemDetails, ProblemKind};

pub const POSITION_HEADER: &str = "x-orderflow-position";

/// Every error a command endpoint can answer with.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum CommandErrors {
    /// Malformed JSON, wrong JSON types, or a malformed header.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(#[to_schema] ProblemDetails),
    /// No such order (or no such item on it).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(#[to_schema] ProblemDetails),
    /// A business rule forbids the command in the order's state; `code` names the rule.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(#[to_schema] ProblemDetails),
    /// `If-Match` names a version the order is no longer at.
    #[response(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(#[to_schema] ProblemDetails),
    /// The body is larger than the limit.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(#[to_schema] ProblemDetails),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(#[to_schema] ProblemDetails),
    /// Invalid field values (per-field `errors`), an `Idempotency-Key` reused for another
    /// request, or a value the event store refused (`code` `store.rejected`; only this request
    /// fails).
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(#[to_schema] ProblemDetails),
    /// Internal error.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(#[to_schema] ProblemDetails),
    /// The event store is unreachable and nothing was written (`unavailable`), or the
    /// connection broke during the commit and its outcome is unknown (`outcome-unknown`:
    /// retry with the same `Idempotency-Key`).
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(#[to_schema] ProblemDetails),
}

/// Errors of the read endpoints.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only read by the OpenAPI derive.
pub enum ReadErrors {
    /// No such order.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(#[to_schema] ProblemDetails),
    /// Internal error.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(#[to_schema] ProblemDetails),
    /// The event store is unreachable.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(#[to_schema] ProblemDetails),
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

fn position_header(position: Position) -> HeaderValue {
    HeaderValue::from_str(&position.to_string()).unwrap_or(HeaderValue::from_static("0.0"))
}

fn render(state: &orderflow_domain::OrderState) -> serde_json::Value {
    serde_json::to_value(OrderView::from_state(state)).unwrap_or_default()
}

/// Runs one command and shapes the success response (first or replayed).
async fn run(
    state: &AppState,
    order_id: OrderId,
    command: OrderCommand,
    headers: CommandHeaders,
    body: &[u8],
    created: bool,
) -> Result<Response, Problem> {
    let ctx = headers.with_body(body);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let outcome = state
        .handler
        .execute(
            order_id,
            &command,
            &ctx,
            |s| serde_json::json!({ "status": status.as_u16(), "body": render(s) }),
        )
        .await;
    let command_name = command.name();
    let (status, body, result, order_id, replayed) = match outcome {
        Ok(CommandOutcome::Applied { state, result }) => {
            (status, render(&state), result, order_id, false)
        }
        Ok(CommandOutcome::Replayed(record)) => {
            let status = record.response["status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            // The first request's order: a replayed create minted a fresh
            // id that names nothing, and the Location must be the first one.
            let first_order = OrderId::from_stream_id(record.stream_id.as_str()).map_err(|e| {
                command_problem(CommandError::Store(StoreError::Corrupt(e.to_string())))
            })?;
            (
                status,
                record.response["body"].clone(),
                record.result,
                first_order,
                true,
            )
        }
        Err(e) => {
            metrics::counter!("orderflow_commands_total", "command" => command_name, "outcome" => outcome_label(&e))
                .increment(1);
            return Err(command_problem(e));
        }
    };
    metrics::counter!("orderflow_commands_total", "command" => command_name, "outcome" => if replayed { "replayed" } else { "applied" })
        .increment(1);
    Ok(success(status, body, result, order_id, created, replayed))
}

fn outcome_label(e: &CommandError) -> &'static str {
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
    headers: CommandHeaders,
    body: JsonBody<CreateOrderRequest>,
) -> Result<Response, Problem> {
    let order_id = OrderId::new(uuid::Uuid::now_v7());
    let command = body.value.command(order_id)?;
    run(&state, order_id, command, headers, &body.bytes, true).await
}

/// Add an item, or raise the quantity of a sku already on the order.
#[utoipa::path(post, path = "/orders/{id}/items", tag = "orders",
    request_body = AddItemRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn add_item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<AddItemRequest>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let command = body.value.command()?;
    run(&state, order_id, command, headers, &body.bytes, false).await
}

fn sku_from_path(raw: &str) -> Result<Sku, Problem> {
    Sku::new(raw.to_owned()).map_err(|e| {
        Problem::new(
            ProblemKind::NotFound,
            format!("no item {raw:?} on this order: {e}"),
        )
        .with_code("item.not_found")
    })
}

/// Set the quantity of one line.
#[utoipa::path(patch, path = "/orders/{id}/items/{sku}", tag = "orders",
    request_body = ChangeQuantityRequest,
    params(("id" = String, Path), ("sku" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn change_item_quantity(
    State(state): State<AppState>,
    Path((id, sku)): Path<(String, String)>,
    headers: CommandHeaders,
    body: JsonBody<ChangeQuantityRequest>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let sku = sku_from_path(&sku)?;
    let mut fields = Fields::default();
    let quantity = fields.quantity("quantity", body.value.quantity);
    let command = fields
        .finish(quantity.map(|quantity| OrderCommand::ChangeItemQuantity { sku, quantity }))?;
    run(&state, order_id, command, headers, &body.bytes, false).await
}

/// Remove one line.
#[utoipa::path(delete, path = "/orders/{id}/items/{sku}", tag = "orders",
    params(("id" = String, Path), ("sku" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn remove_item(
    State(state): State<AppState>,
    Path((id, sku)): Path<(String, String)>,
    headers: CommandHeaders,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let sku = sku_from_path(&sku)?;
    run(
        &state,
        order_id,
        OrderCommand::RemoveItem { sku },
        headers,
        b"",
        false,
    )
    .await
}

/// Set or replace the shipping address.
#[utoipa::path(put, path = "/orders/{id}/shipping-address", tag = "orders",
    request_body = AddressDto,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn set_shipping_address(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<AddressDto>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let command = OrderCommand::SetShippingAddress {
        address: body.value.into(),
    };
    run(&state, order_id, command, headers, &body.bytes, false).await
}

/// Commands without a body: submit, confirm, deliver.
async fn bare(
    state: AppState,
    id: String,
    headers: CommandHeaders,
    command: OrderCommand,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    run(&state, order_id, command, headers, b"", false).await
}

/// Submit a draft (needs items and an address).
#[utoipa::path(post, path = "/orders/{id}/submit", tag = "orders",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
) -> Result<Response, Problem> {
    bare(state, id, headers, OrderCommand::SubmitOrder).await
}

/// Confirm a submitted order (stock secured).
#[utoipa::path(post, path = "/orders/{id}/confirm", tag = "orders",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
) -> Result<Response, Problem> {
    bare(state, id, headers, OrderCommand::ConfirmOrder).await
}

/// Mark a shipped order delivered.
#[utoipa::path(post, path = "/orders/{id}/deliver", tag = "orders",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn deliver(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
) -> Result<Response, Problem> {
    bare(state, id, headers, OrderCommand::MarkDelivered).await
}

/// Reject a submitted order.
#[utoipa::path(post, path = "/orders/{id}/reject", tag = "orders",
    request_body = ReasonRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ReasonRequest>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let command = OrderCommand::RejectOrder {
        reason: body.value.reason.clone(),
    };
    run(&state, order_id, command, headers, &body.bytes, false).await
}

/// Cancel an order (from draft, submitted, confirmed or paid).
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders",
    request_body = ReasonRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ReasonRequest>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let command = OrderCommand::CancelOrder {
        reason: body.value.reason.clone(),
    };
    run(&state, order_id, command, headers, &body.bytes, false).await
}

/// Record the payment of a confirmed order (must equal the total).
#[utoipa::path(post, path = "/orders/{id}/payments", tag = "orders",
    request_body = PaymentRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn record_payment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<PaymentRequest>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let command = body.value.command()?;
    run(&state, order_id, command, headers, &body.bytes, false).await
}

/// Ship a paid order.
#[utoipa::path(post, path = "/orders/{id}/ship", tag = "orders",
    request_body = ShipRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn ship(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ShipRequest>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let command = OrderCommand::ShipOrder {
        carrier: body.value.carrier.clone(),
        tracking_number: body.value.tracking_number.clone(),
    };
    run(&state, order_id, command, headers, &body.bytes, false).await
}

/// Refund (part of) what was paid.
#[utoipa::path(post, path = "/orders/{id}/refunds", tag = "orders",
    request_body = RefundRequest,
    params(("id" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = OrderView), CommandErrors))]
pub async fn issue_refund(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<RefundRequest>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let command = body.value.command()?;
    run(&state, order_id, command, headers, &body.bytes, false).await
}

/// The order's write-side state, folded from its events.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = String, Path)),
    responses((status = 200, description = "The order", body = OrderView,
        headers(("ETag" = String, description = "Stream version"))), ReadErrors))]
pub async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let (order, events) = state
        .handler
        .load(order_id)
        .await
        .map_err(command_problem)?;
    let view = OrderView::from_state(&order).ok_or_else(|| not_found(&id))?;
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
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Most events in the page (default 100, at most 1000)")),
    responses((status = 200, description = "One page of the event history", body = EventHistory,
        headers(("ETag" = String, description = "Stream version"),
            ("Link" = String, description = "`</orders/{id}/events?after=N&limit=L>; rel=\"next\"` while more events follow"))),
        (status = 400, description = "A malformed query parameter", body = ProblemDetails, content_type = "application/problem+json"),
        ReadErrors))]
pub async fn get_order_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    page: EventsPage,
) -> Result<Response, Problem> {
    let order_id = parse_order_id(&id)?;
    let (order, events) = state
        .handler
        .load(order_id)
        .await
        .map_err(command_problem)?;
    if events.is_empty() {
        return Err(not_found(&id));
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
                traceparent: r.metadata.traceparent,
                idempotency_key: r.metadata.idempotency_key,
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

fn not_found(id: &str) -> Problem {
    Problem::new(ProblemKind::NotFound, format!("no order {id}")).with_code("order.not_found")
}
