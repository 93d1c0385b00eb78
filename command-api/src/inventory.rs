//! The stock endpoints: receive goods, correct a count, read a sku's stock.
//! Same conventions as the order endpoints (problem+json, `If-Match` on
//! the stream version, `Idempotency-Key`, position token); staff only (see
//! the access table). Reservations are not exposed here: the fulfilment
//! process makes them through the [`crate::InventoryHandler`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use orderflow_auth::Principal;
use orderflow_domain::{InventoryCommand, InventoryState, Sku};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::access::guard;
use crate::dto::whole_number;
use crate::extract::{CommandHeaders, JsonBody};
use crate::handler::CommandOutcome;
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::routes::{
    Caller, CommandErrors, POSITION_HEADER, ReadErrors, etag, outcome_label, position_header,
};

/// `POST /inventory/{sku}/receipts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    /// Units that arrived; the bounds are the schema's.
    #[schema(example = 40)]
    #[serde(deserialize_with = "whole_number::deserialize")]
    pub quantity: i64,
}

/// `POST /inventory/{sku}/adjustments`: a count correction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    /// The units counted on the shelf, reserved ones included. Never below
    /// what is reserved (409 `inventory.below_reserved`).
    #[schema(example = 38)]
    #[serde(deserialize_with = "whole_number::deserialize")]
    pub on_hand: i64,
    #[schema(example = "stocktake: 2 chipped")]
    pub reason: String,
}

/// The write-side stock of one sku, folded from its events.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockView {
    pub sku: String,
    /// Units on the shelf, reserved ones included.
    pub on_hand: u32,
    /// Units held for orders.
    pub reserved: u32,
    /// `on_hand - reserved`: what may still be reserved.
    pub available: u32,
    /// Orders holding units now.
    pub open_reservations: usize,
    pub updated_at: Option<DateTime<Utc>>,
    /// The stream version; also the `ETag`.
    pub version: u64,
}

impl StockView {
    pub fn from_state(sku: &Sku, s: &InventoryState) -> StockView {
        StockView {
            sku: sku.as_str().to_owned(),
            on_hand: s.on_hand,
            reserved: s.reserved,
            available: s.available(),
            open_reservations: s.reservations.len(),
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

/// The sku from the path; one that breaks the sku rules names no stock.
fn sku_from_path(raw: &str) -> Result<Sku, Problem> {
    Sku::new(raw).map_err(|e| stock_not_found(&format!("{raw:?}: {e}")))
}

fn stock_not_found(what: &str) -> Problem {
    Problem::new(ProblemKind::NotFound, format!("no stock of sku {what}"))
        .with_code("inventory.not_found")
}

/// A count from the body: what no `u32` holds is refused here, the rest
/// is the domain's to judge.
fn count(field: &str, value: i64) -> Result<u32, Problem> {
    u32::try_from(value).map_err(|_| {
        let message = format!("{field} {value} is outside the range of stock counts");
        Problem::new(ProblemKind::Validation, "1 field(s) are invalid")
            .with_code("validation")
            .with_errors(vec![FieldError {
                field: field.to_owned(),
                code: "inventory.invalid_quantity".to_owned(),
                message,
            }])
    })
}

/// Runs one stock command and shapes the answer (first or replayed).
async fn run(
    state: &AppState,
    caller: Caller,
    sku: Sku,
    command: InventoryCommand,
    headers: CommandHeaders,
    body: &[u8],
) -> Result<Response, Problem> {
    let ctx = caller.context(headers, body);
    let outcome = state.inventory.execute(sku.clone(), &command, &ctx).await;
    let label = match &outcome {
        Ok(CommandOutcome::Applied { .. }) => "applied",
        Ok(CommandOutcome::Replayed { .. }) => "replayed",
        Err(e) => outcome_label(e),
    };
    metrics::counter!("orderflow_commands_total", "command" => command.name(), "outcome" => label)
        .increment(1);
    let (stock, result, replayed) = match outcome? {
        CommandOutcome::Applied { state, result } => (state, result, false),
        CommandOutcome::Replayed { state, result, .. } => (state, result, true),
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(result.stream_version));
    headers.insert(POSITION_HEADER, position_header(result.position));
    if replayed {
        headers.insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    Ok((headers, Json(StockView::from_state(&sku, &stock))).into_response())
}

/// Record goods received: on hand grows by `quantity`.
#[utoipa::path(post, path = "/inventory/{sku}/receipts", tag = "inventory",
    request_body = ReceiptRequest,
    params(("sku" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = StockView,
        headers(("ETag" = String, description = "Stream version"),
            ("X-Orderflow-Position" = String, description = "Position token for read-your-writes"))),
        CommandErrors))]
pub async fn receive_stock(
    State(state): State<AppState>,
    principal: Principal,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ReceiptRequest>,
) -> Result<Response, Problem> {
    let caller = Caller::of(principal, "receive_stock")?;
    let sku = sku_from_path(&sku)?;
    let quantity = count("quantity", body.value.quantity)?;
    let command = InventoryCommand::ReceiveStock { quantity };
    run(&state, caller, sku, command, headers, &body.bytes).await
}

/// Correct the count on hand (stocktake, damage, loss), with a reason.
#[utoipa::path(post, path = "/inventory/{sku}/adjustments", tag = "inventory",
    request_body = AdjustmentRequest,
    params(("sku" = String, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Applied", body = StockView,
        headers(("ETag" = String, description = "Stream version"),
            ("X-Orderflow-Position" = String, description = "Position token for read-your-writes"))),
        CommandErrors))]
pub async fn adjust_stock(
    State(state): State<AppState>,
    principal: Principal,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<AdjustmentRequest>,
) -> Result<Response, Problem> {
    let caller = Caller::of(principal, "adjust_stock")?;
    let sku = sku_from_path(&sku)?;
    let on_hand = count("on_hand", body.value.on_hand)?;
    let command = InventoryCommand::AdjustStock {
        on_hand,
        reason: body.value.reason.clone(),
    };
    run(&state, caller, sku, command, headers, &body.bytes).await
}

/// The sku's write-side stock, folded from its events. A sku that never
/// had stock is a 404.
#[utoipa::path(get, path = "/inventory/{sku}", tag = "inventory",
    params(("sku" = String, Path)),
    responses((status = 200, description = "The stock", body = StockView,
        headers(("ETag" = String, description = "Stream version"))), ReadErrors))]
pub async fn get_stock(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Response, Problem> {
    guard(&principal, "get_stock")?;
    let sku = sku_from_path(&raw)?;
    let (stock, events) = state.inventory.load(sku.clone()).await?;
    if !stock.exists() {
        return Err(stock_not_found(sku.as_str()));
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(stock.version));
    if let Some((last, _)) = events.last() {
        headers.insert(POSITION_HEADER, position_header(last.position));
    }
    Ok((headers, Json(StockView::from_state(&sku, &stock))).into_response())
}
