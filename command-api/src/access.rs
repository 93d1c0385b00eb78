//! Who may do what: the one table of the command API's operations and the
//! roles allowed to run them, the guard every handler calls, and the
//! OpenAPI decoration (`security`, `x-roles`, 401/403, and the 429 of the
//! rate limiter in front of every route) made from the same table, so
//! code, contract and README cannot drift apart.

use orderflow_auth::{Principal, Role};
use orderflow_domain::{CustomerId, OrderState};
use serde_json::{Value, json};

use crate::problem::{Problem, ProblemKind};

/// How a caller of an operation proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authn {
    /// A bearer JWT; the roles in [`Rule`] decide.
    Bearer,
    /// An HMAC signature with the payment provider's shared secret
    /// (`Orderflow-Signature`); no token, no roles: holding the secret is
    /// the permission. A bearer token alone never runs such an operation.
    PaymentSignature,
}

/// How an operation reaches orders (or, for stock operations, skus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The OpenAPI `operationId` (the handler's name).
    pub operation: &'static str,
    pub authn: Authn,
    /// Roles that may run it on any order; for a stock operation, on any
    /// sku (stock has no owner, so `own_order` is false there).
    pub any_order: &'static [Role],
    /// Whether a `customer` may run it on their own orders. Another
    /// customer's order is answered as missing (404), so ids do not leak.
    pub own_order: bool,
}

const STAFF: &[Role] = &[Role::Staff];
const FINANCE: &[Role] = &[Role::Finance];
const READERS: &[Role] = &[Role::Staff, Role::Finance];
const NONE: &[Role] = &[];

const fn rule(operation: &'static str, any_order: &'static [Role], own_order: bool) -> Rule {
    Rule {
        operation,
        authn: Authn::Bearer,
        any_order,
        own_order,
    }
}

/// An operation only the payment provider's signature opens.
const fn signed_by_provider(operation: &'static str) -> Rule {
    Rule {
        operation,
        authn: Authn::PaymentSignature,
        any_order: NONE,
        own_order: false,
    }
}

/// THE table. A route whose operation is missing here is refused to
/// everyone (see [`rule_for`]) and fails the OpenAPI test.
pub const RULES: &[Rule] = &[
    // Only for the token's own customer id (checked against the body).
    rule("create_order", NONE, true),
    rule("add_item", NONE, true),
    rule("change_item_quantity", NONE, true),
    rule("remove_item", NONE, true),
    rule("set_shipping_address", NONE, true),
    rule("submit", NONE, true),
    rule("cancel", NONE, true),
    rule("confirm", STAFF, false),
    rule("reject", STAFF, false),
    rule("ship", STAFF, false),
    rule("deliver", STAFF, false),
    rule("record_payment", FINANCE, false),
    rule("issue_refund", FINANCE, false),
    rule("get_order", READERS, true),
    rule("get_order_events", READERS, true),
    // The stock of skus: the warehouse's work.
    rule("receive_stock", STAFF, false),
    rule("adjust_stock", STAFF, false),
    rule("get_stock", STAFF, false),
    signed_by_provider("payment_webhook"),
];

/// The rule of `operation`; an unlisted one allows nobody.
pub fn rule_for(operation: &str) -> Rule {
    RULES
        .iter()
        .copied()
        .find(|r| r.operation == operation)
        .unwrap_or(rule("unlisted", NONE, false))
}

impl Rule {
    /// Every role that can run the operation on some order.
    pub fn roles(&self) -> Vec<Role> {
        let mut roles = self.any_order.to_vec();
        if self.own_order {
            roles.push(Role::Customer);
        }
        roles.sort();
        roles
    }
}

/// What the guard lets through: all orders, or one customer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    AnyOrder,
    /// Orders of this customer only.
    OwnOrders(CustomerId),
}

impl Scope {
    /// Whether `order` (as folded) may be seen in this scope; a missing
    /// order has no owner and is a 404 for everyone anyway.
    pub fn admits(&self, order: &OrderState) -> bool {
        match self {
            Scope::AnyOrder => true,
            Scope::OwnOrders(me) => order.customer_id.as_ref().is_none_or(|c| c == me),
        }
    }
}

/// The one check: may `principal` run `operation`, and on which orders?
/// A role that may not run it at all is a 403; a customer without a
/// usable customer id in the token too.
pub fn guard(principal: &Principal, operation: &str) -> Result<Scope, Problem> {
    let rule = rule_for(operation);
    if principal.has_any_role(rule.any_order) {
        return Ok(Scope::AnyOrder);
    }
    if rule.own_order && principal.has_role(Role::Customer) {
        let own = principal
            .customer_id
            .as_deref()
            .and_then(|c| CustomerId::new(c).ok())
            .ok_or_else(|| forbidden("the token carries no valid customer id".to_owned()))?;
        return Ok(Scope::OwnOrders(own));
    }
    let names: Vec<&str> = rule.roles().iter().map(|r| r.as_str()).collect();
    Err(forbidden(if names.is_empty() {
        format!("{operation} is not open to any role")
    } else {
        format!("{operation} needs one of the roles: {}", names.join(", "))
    }))
}

/// A customer may only create orders for their own customer id.
pub fn check_new_order_customer(scope: &Scope, customer: &CustomerId) -> Result<(), Problem> {
    match scope {
        Scope::OwnOrders(me) if me != customer => Err(forbidden(
            "customers create orders for their own customer id only".to_owned(),
        )),
        _ => Ok(()),
    }
}

fn forbidden(detail: String) -> Problem {
    Problem::new(ProblemKind::Forbidden, detail)
}

/// The same 404 a missing order gets.
pub fn order_not_found(id: &str) -> Problem {
    Problem::new(ProblemKind::NotFound, format!("no order {id}")).with_code("order.not_found")
}

/// The OpenAPI security scheme of [`Authn::PaymentSignature`].
pub const PAYMENT_SIGNATURE_SCHEME: &str = "paymentSignature";

/// Adds the security schemes, each operation's `security`, `x-roles` and
/// its 401/403/429 answers to the document.
pub fn document(doc: &mut Value) {
    doc["components"]["securitySchemes"][PAYMENT_SIGNATURE_SCHEME] = json!({
        "type": "apiKey",
        "in": "header",
        "name": "Orderflow-Signature",
        "description": "The payment provider's HMAC-SHA256 signature with the shared webhook \
                        secret: `t=<unix seconds>,v1=<hex HMAC of \"<t>.<raw body>\">`, at most \
                        `PAYMENT_WEBHOOK_TOLERANCE_SECS` old."
    });
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT from the configured identity provider (or, in development \
                        mode, `orderflow token --role customer --sub customer-42`)."
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            let rule = rule_for(id);
            let roles: Vec<&str> = rule.roles().iter().map(|r| r.as_str()).collect();
            if rule.authn == Authn::PaymentSignature {
                // Its 401 (`bad-signature`) is the problem table's; with no
                // roles there is no 403.
                op["security"] = json!([{ PAYMENT_SIGNATURE_SCHEME: [] }]);
                op["x-roles"] = json!(roles);
                op["responses"]["401"]["headers"]["WWW-Authenticate"] = json!({
                    "schema": { "type": "string" },
                    "description": "How to authenticate: sign the body (`HMAC-SHA256 …, header=\"Orderflow-Signature\"`)"
                });
                // Without a token the limiter keys it by the client address.
                op["responses"]["429"] = rate_limited_response();
                continue;
            }
            op["security"] = json!([{ "bearer": [] }]);
            op["x-roles"] = json!(roles);
            let mut own = String::new();
            if rule.own_order {
                own = " A customer only reaches their own orders; another customer's \
                       order is a 404."
                    .to_owned();
            }
            let responses = &mut op["responses"];
            responses["401"] = problem_response(
                "`unauthorized`: no bearer token, or one that is expired, not yet valid, \
                 for another issuer or audience, or badly signed.",
            );
            responses["403"] = problem_response(&format!(
                "`forbidden`: the token's roles may not do this (allowed: {}).{own}",
                roles.join(", ")
            ));
            responses["429"] = rate_limited_response();
        }
    }
}

/// The rate limiter's refusal (auth crate, `RATE_LIMITED_TYPE`): limits
/// are per token subject, per client address without a valid token.
fn rate_limited_response() -> Value {
    let field =
        |description: &str| json!({ "schema": { "type": "string" }, "description": description });
    json!({
        "description": format!(
            "`rate_limited` (`{}`): the caller's limit is used up; limits are per token \
             subject and role, per client address without a valid token, per replica.",
            orderflow_auth::RATE_LIMITED_TYPE
        ),
        "headers": {
            "Retry-After": { "schema": { "type": "integer", "minimum": 1 },
                "description": "Seconds until the next request is served" },
            "RateLimit": field("The caller's remaining quota and reset (draft-ietf-httpapi-ratelimit-headers), e.g. `\"customer\";r=0;t=3`"),
            "RateLimit-Policy": field("The limit applied, e.g. `\"customer\";q=50;w=10`")
        },
        "content": { crate::problem::PROBLEM_JSON: {
            "schema": { "$ref": "#/components/schemas/ProblemDetails" } } }
    })
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "headers": { "WWW-Authenticate": { "schema": { "type": "string" },
            "description": "The RFC 6750 challenge" } },
        "content": { crate::problem::PROBLEM_JSON: {
            "schema": { "$ref": "#/components/schemas/ProblemDetails" } } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], customer: Option<&str>) -> Principal {
        Principal {
            subject: "s".into(),
            roles: roles.to_vec(),
            customer_id: customer.map(str::to_owned),
            client_id: None,
        }
    }

    #[test]
    fn the_table_decides_scope() {
        let customer = principal(&[Role::Customer], Some("c-1"));
        let own = Scope::OwnOrders(CustomerId::new("c-1").unwrap());
        assert_eq!(guard(&customer, "add_item").unwrap(), own);
        assert_eq!(guard(&customer, "get_order").unwrap(), own);
        assert_eq!(guard(&customer, "confirm").unwrap_err().0.status, 403);
        let staff = principal(&[Role::Staff], None);
        assert_eq!(guard(&staff, "ship").unwrap(), Scope::AnyOrder);
        assert_eq!(guard(&staff, "get_order").unwrap(), Scope::AnyOrder);
        assert_eq!(guard(&staff, "record_payment").unwrap_err().0.status, 403);
        assert_eq!(guard(&staff, "create_order").unwrap_err().0.status, 403);
        let finance = principal(&[Role::Finance], None);
        assert_eq!(guard(&finance, "issue_refund").unwrap(), Scope::AnyOrder);
        let operator = principal(&[Role::Operator], None);
        assert_eq!(guard(&operator, "get_order").unwrap_err().0.status, 403);
        assert_eq!(guard(&operator, "not_in_table").unwrap_err().0.status, 403);
        let no_id = principal(&[Role::Customer], None);
        assert_eq!(guard(&no_id, "submit").unwrap_err().0.status, 403);
        // A signed route is nobody's by token, whatever the roles.
        let everyone = principal(
            &[Role::Customer, Role::Staff, Role::Finance, Role::Operator],
            Some("c-1"),
        );
        assert_eq!(
            guard(&everyone, "payment_webhook").unwrap_err().0.status,
            403
        );
        assert_eq!(rule_for("payment_webhook").authn, Authn::PaymentSignature);
    }
}
