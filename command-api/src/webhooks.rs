//! `POST /webhooks/payments`: the payment provider tells us an order was
//! paid. No bearer token: the provider proves itself with an HMAC
//! signature over the timestamp and the raw body (`orderflow-payments`
//! checks it), so the signature is verified before the body is parsed.
//! The payment is recorded through the same command path as
//! `POST /orders/{id}/payments`, as the provider (`payment-provider`), and
//! idempotently by the notification id: a redelivered notification is a
//! replay, never a second payment.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_domain::{OrderCommand, OrderId, PaymentId};
use orderflow_observability::CorrelationId;
use orderflow_payments::{SIGNATURE_HEADER, SignatureError, WebhookError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::openapi::RefOr;
use utoipa::{IntoResponses, ToSchema};

use crate::AppState;
use crate::commands::Fields;
use crate::dto::MoneyDto;
use crate::extract::{is_json, parse_json, read_body};
use crate::handler::{CommandContext, CommandError, CommandOutcome, IdempotencyInput};
use crate::problem::{Problem, ProblemKind, error_responses};
use crate::routes::POSITION_HEADER;

/// The actor recorded on events the provider caused. No bearer token
/// names it: the webhook secret does.
pub const PAYMENT_PROVIDER_ACTOR: &str = "payment-provider";

/// Longest notification id (the idempotency key is built from it).
pub const MAX_NOTIFICATION_ID_LEN: usize = 128;

/// The `WWW-Authenticate` challenge of a refused notification (a 401 must
/// name how to authenticate; here: sign, not present a token).
pub const SIGNATURE_CHALLENGE: &str =
    "HMAC-SHA256 realm=\"orderflow-payments\", header=\"Orderflow-Signature\"";

/// Visible ASCII, no spaces: what providers use for event ids.
const NOTIFICATION_ID_PATTERN: &str = "^[!-~]{1,128}$";

/// What the provider sends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentNotification {
    /// The provider's id of this notification; a redelivery carries the
    /// same one.
    #[schema(example = "evt_1QdX8n")]
    pub notification_id: String,
    /// The order paid (a UUID).
    #[schema(example = "0193a0b4-5d6e-7f00-8000-000000000001")]
    pub order_id: String,
    /// The provider's reference of the payment (becomes the order's
    /// `payment_id`).
    #[schema(example = "pay_3QdX8n")]
    pub payment_reference: String,
    /// Must equal the order total.
    pub amount: MoneyDto,
}

/// What the webhook did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationOutcome {
    /// The payment is now recorded on the order.
    Recorded,
    /// This notification (or this payment) was recorded before; nothing
    /// changed.
    AlreadyRecorded,
}

/// The webhook's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationReceipt {
    pub notification_id: String,
    pub order_id: String,
    pub outcome: NotificationOutcome,
}

/// Every error the webhook answers with.
const WEBHOOK_ERRORS: &[ProblemKind] = &[
    ProblemKind::MalformedJson,
    ProblemKind::InvalidBody,
    ProblemKind::InvalidRequest,
    ProblemKind::BadSignature,
    ProblemKind::NotFound,
    ProblemKind::BusinessRule,
    ProblemKind::Contention,
    ProblemKind::PayloadTooLarge,
    ProblemKind::UnsupportedMediaType,
    ProblemKind::Validation,
    ProblemKind::IdempotencyKeyReused,
    ProblemKind::Internal,
    ProblemKind::Unavailable,
    ProblemKind::OutcomeUnknown,
];

/// The OpenAPI responses of [`WEBHOOK_ERRORS`].
pub struct WebhookErrors;

impl IntoResponses for WebhookErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        error_responses(WEBHOOK_ERRORS)
    }
}

/// Record a payment the provider reports. Signed with the shared webhook
/// secret, not a bearer token: `Orderflow-Signature: t=<unix seconds>,v1=<hex
/// HMAC-SHA256 of "<t>.<raw body>">`, at most `PAYMENT_WEBHOOK_TOLERANCE_SECS`
/// old. Idempotent by `notification_id`.
#[utoipa::path(post, path = "/webhooks/payments", tag = "webhooks",
    request_body = PaymentNotification,
    params(("Orderflow-Signature" = String, Header,
        description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">` with the webhook secret")),
    responses(
        (status = 200, description = "Recorded now, or before (a redelivery)", body = NotificationReceipt,
            headers(("X-Orderflow-Position" = String, description = "Position token for read-your-writes"))),
        WebhookErrors))]
pub async fn payment_webhook(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, Problem> {
    let headers = request.headers();
    let correlation_id = request
        .extensions()
        .get::<CorrelationId>()
        .map(|c| c.0.clone());
    let traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|t| t.len() <= 128)
        .map(str::to_owned);
    let signature = match headers.get(SIGNATURE_HEADER).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(value)) => Some(value.to_owned()),
        Some(Err(_)) => {
            return Ok(refused(&WebhookError::Signature(
                SignatureError::Malformed("not visible ASCII"),
            )));
        }
    };
    let json_body = is_json(headers);
    let body = read_body(request, &state).await?;
    if let Err(e) = state.payment_webhook.verify(signature.as_deref(), &body) {
        return Ok(refused(&e));
    }
    if !json_body {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            "send the notification as Content-Type: application/json",
        ));
    }
    let notification: PaymentNotification = parse_json(&body)?;
    let (order_id, payment_id, command) = notification.command()?;
    let ctx = CommandContext {
        causation_id: Some(format!(
            "payment-notification:{}",
            notification.notification_id
        )),
        correlation_id,
        actor: Some(PAYMENT_PROVIDER_ACTOR.to_owned()),
        actor_roles: Vec::new(),
        actor_client_id: None,
        owner: None,
        traceparent,
        expected_version: None,
        idempotency: Some(notification.idempotency()),
    };
    let outcome = state.handler.execute(order_id, &command, &ctx).await;
    let (result, position) = match outcome {
        Ok(CommandOutcome::Applied { result, .. }) => (NotificationOutcome::Recorded, Some(result)),
        Ok(CommandOutcome::Replayed { result, .. }) => {
            (NotificationOutcome::AlreadyRecorded, Some(result))
        }
        // The key expired, or the provider sent the payment under a new
        // notification id: the order already holds this very payment.
        Err(CommandError::Rejected(_)) if already_paid(&state, order_id, &payment_id).await => {
            (NotificationOutcome::AlreadyRecorded, None)
        }
        Err(CommandError::IdempotencyKeyReused) => {
            count("reused");
            return Err(Problem::new(
                ProblemKind::IdempotencyKeyReused,
                "this notification id was delivered before with another order, reference or amount",
            )
            .with_code("notification.reused"));
        }
        Err(e) => {
            count("refused");
            return Err(e.into());
        }
    };
    count(match result {
        NotificationOutcome::Recorded => "recorded",
        NotificationOutcome::AlreadyRecorded => "already_recorded",
    });
    let mut response_headers = HeaderMap::new();
    if let Some(position) = position
        && let Ok(value) = HeaderValue::from_str(&position.position.to_string())
    {
        response_headers.insert(POSITION_HEADER, value);
    }
    let receipt = NotificationReceipt {
        notification_id: notification.notification_id,
        order_id: order_id.as_uuid().to_string(),
        outcome: result,
    };
    Ok((StatusCode::OK, response_headers, Json(receipt)).into_response())
}

impl PaymentNotification {
    /// The order and the command, or a 422 naming every field at fault.
    fn command(&self) -> Result<(OrderId, PaymentId, OrderCommand), Problem> {
        let mut fields = Fields::default();
        if !valid_notification_id(&self.notification_id) {
            fields.push(
                "notification_id",
                "notification.invalid_id",
                format!("1 to {MAX_NOTIFICATION_ID_LEN} visible ASCII characters without spaces"),
            );
        }
        let order_id = match uuid::Uuid::try_parse(&self.order_id) {
            Ok(id) => Some(OrderId::new(id)),
            Err(_) => {
                fields.push("order_id", "order.invalid_id", "an order id is a UUID");
                None
            }
        };
        let payment_id = fields.check(
            "payment_reference",
            PaymentId::new(self.payment_reference.clone()),
        );
        let amount = fields.money("amount", &self.amount);
        let parts = match (order_id, payment_id, amount) {
            (Some(order), Some(payment_id), Some(amount)) => Some((
                order,
                payment_id.clone(),
                OrderCommand::RecordPayment { payment_id, amount },
            )),
            _ => None,
        };
        fields.finish(parts)
    }

    /// Derived from the notification id alone, so every delivery of it
    /// claims the same key; the hash binds the key to what it reported.
    fn idempotency(&self) -> IdempotencyInput {
        let mut h = Sha256::new();
        for part in [
            "payment-notification",
            &self.order_id,
            &self.payment_reference,
            &self.amount.amount_minor.to_string(),
            &self.amount.currency,
        ] {
            h.update(part.as_bytes());
            h.update(b"\n");
        }
        IdempotencyInput {
            key: format!("payment-notification:{}", self.notification_id),
            request_hash: h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            owner: Some(PAYMENT_PROVIDER_ACTOR.to_owned()),
        }
    }
}

fn valid_notification_id(id: &str) -> bool {
    (1..=MAX_NOTIFICATION_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

async fn already_paid(state: &AppState, order_id: OrderId, payment_id: &PaymentId) -> bool {
    match state.handler.load(order_id).await {
        Ok((order, _)) => order.payment_id.as_ref() == Some(payment_id),
        Err(_) => false,
    }
}

fn refused(error: &WebhookError) -> Response {
    count("bad_signature");
    tracing::warn!(code = error.code(), error = %error, "payment notification refused");
    let mut response = Problem::new(ProblemKind::BadSignature, error.to_string())
        .with_code(error.code())
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(SIGNATURE_CHALLENGE),
    );
    response
}

fn count(outcome: &'static str) {
    metrics::counter!("orderflow_payment_notifications_total", "outcome" => outcome).increment(1);
}

/// The webhook's constraints in the OpenAPI document.
pub(crate) fn tighten(schemas: &mut Value) {
    let props = &mut schemas["PaymentNotification"]["properties"];
    let mut merge = |field: &str, extra: Value| {
        if let (Some(target), Value::Object(extra)) = (props[field].as_object_mut(), extra) {
            target.extend(extra);
        }
    };
    merge(
        "notification_id",
        json!({ "minLength": 1, "maxLength": MAX_NOTIFICATION_ID_LEN, "pattern": NOTIFICATION_ID_PATTERN }),
    );
    merge("order_id", json!({ "format": "uuid" }));
    // The reference becomes the order's payment id: its constraints.
    let mut payment_id = schemas["PaymentRequest"]["properties"]["payment_id"].clone();
    if let Some(constraints) = payment_id.as_object_mut() {
        constraints.retain(|k, _| matches!(k.as_str(), "minLength" | "maxLength" | "pattern"));
    }
    let props = &mut schemas["PaymentNotification"]["properties"];
    if let (Some(target), Value::Object(extra)) =
        (props["payment_reference"].as_object_mut(), payment_id)
    {
        target.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(id: &str) -> PaymentNotification {
        PaymentNotification {
            notification_id: id.to_owned(),
            order_id: "0193a0b4-5d6e-7f00-8000-000000000001".to_owned(),
            payment_reference: "pay_1".to_owned(),
            amount: MoneyDto {
                amount_minor: 2500,
                currency: "EUR".to_owned(),
            },
        }
    }

    #[test]
    fn the_idempotency_key_is_the_notification_ids_and_the_hash_its_content() {
        let a = notification("evt_1").idempotency();
        let again = notification("evt_1").idempotency();
        assert_eq!(a.key, "payment-notification:evt_1");
        assert_eq!(a.store_key(), again.store_key());
        assert_eq!(a.request_hash, again.request_hash);
        let mut changed = notification("evt_1");
        changed.amount.amount_minor = 2501;
        assert_eq!(changed.idempotency().key, a.key);
        assert_ne!(changed.idempotency().request_hash, a.request_hash);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = PaymentNotification {
            notification_id: "has space".to_owned(),
            order_id: "not-a-uuid".to_owned(),
            payment_reference: " ".to_owned(),
            amount: MoneyDto {
                amount_minor: 1,
                currency: "euro".to_owned(),
            },
        };
        let problem = bad.command().unwrap_err();
        let fields: Vec<&str> = problem
            .details()
            .errors
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(problem.details().status, 422);
        assert_eq!(
            fields,
            [
                "notification_id",
                "order_id",
                "payment_reference",
                "amount.currency"
            ]
        );
        assert!(notification(&"x".repeat(128)).command().is_ok());
        assert!(notification(&"x".repeat(129)).command().is_err());
    }
}
