//! The command API: an axum service that turns HTTP requests into order
//! and stock commands and appends their events, plus the command handler
//! it is built on (usable without HTTP).

mod access;
mod aggregate;
mod app;
mod commands;
mod contract;
mod docs;
mod dto;
mod errors;
mod extract;
mod handler;
mod inventory;
pub mod key_cleanup;
mod paging;
mod problem;
mod routes;
mod serve;
mod webhooks;

pub use access::{Authn, RULES, Rule, rule_for};
pub use aggregate::{Aggregate, Inventory, Order};
pub use app::{
    AppState, DEFAULT_BODY_LIMIT, openapi, openapi_json, router, router_with_handler,
    router_with_webhook, with_common_layers,
};
pub use contract::{ContractPatterns, contract_patterns};
pub use docs::{DOCS_PATH, FILES as DOCS_FILES};
pub use dto::*;
pub use handler::{
    AggregateHandler, CommandContext, CommandError, CommandHandler, CommandOutcome,
    IdempotencyInput, InventoryHandler, conflict_retries_total,
};
pub use inventory::{AdjustmentRequest, ReceiptRequest, StockView};
pub use paging::{DEFAULT_EVENTS_PAGE, EventsPage, MAX_EVENTS_PAGE};
pub use problem::{FieldError, PROBLEM_JSON, Problem, ProblemDetails, ProblemKind, ProblemType};
pub use routes::POSITION_HEADER;
pub use serve::{CommandApiConfig, bind, serve, serve_on};
pub use webhooks::{
    MAX_NOTIFICATION_ID_LEN, NotificationOutcome, NotificationReceipt, PAYMENT_PROVIDER_ACTOR,
    PaymentNotification, SIGNATURE_CHALLENGE,
};
