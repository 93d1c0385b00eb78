//! Who may read what over GraphQL: the one table of the schema's root
//! fields and the roles allowed to read them, the guard every root
//! resolver calls, and the row scope nested resolvers apply. The SDL's
//! descriptions and the README's GraphQL roles table say the same (a test
//! compares them with [`RULES`]).
//!
//! Rows: a customer reaches only orders of their own customer id. Another
//! customer's order or customer is `null`, exactly as a missing one, so
//! ids do not leak; lists are filtered in SQL, so `totalCount` and cursors
//! are the customer's own too.

use async_graphql::Context;
use orderflow_auth::{Principal, Role};

use crate::error::ErrorCode;

/// Who may read one root field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// `Query.<field>` or `Subscription.<field>`, as in the SDL.
    pub field: &'static str,
    /// Roles that read every row.
    pub any_row: &'static [Role],
    /// Whether a `customer` may read it, limited to their own rows.
    pub own_rows: bool,
}

const READERS: &[Role] = &[Role::Staff, Role::Finance];
const FINANCE: &[Role] = &[Role::Finance];
const OPERATOR: &[Role] = &[Role::Operator];
/// Stock is operational: the people who receive, count and ship goods, and
/// operators. Finance reads sales, not shelves; customers never see stock
/// (counts are commercially sensitive).
const STOCK: &[Role] = &[Role::Staff, Role::Operator];

const fn rule(field: &'static str, any_row: &'static [Role], own_rows: bool) -> FieldRule {
    FieldRule {
        field,
        any_row,
        own_rows,
    }
}

/// THE table. A root field missing here is refused to everyone (see
/// [`rule_for`]) and fails the role-matrix test.
pub const RULES: &[FieldRule] = &[
    rule("Query.order", READERS, true),
    rule("Query.orders", READERS, true),
    rule("Query.customer", READERS, true),
    rule("Query.salesByDay", FINANCE, false),
    rule("Query.topProducts", FINANCE, false),
    rule("Query.projections", OPERATOR, false),
    rule("Query.product", STOCK, false),
    rule("Query.lowStock", STOCK, false),
    rule("Subscription.orderChanged", READERS, true),
    // Every order change, loaded per notice: not for customers, whose many
    // connections would each read every change (they follow an order with
    // `orderChanged`).
    rule("Subscription.ordersChanged", READERS, false),
];

/// The rule of `field`; an unlisted one allows nobody.
pub fn rule_for(field: &str) -> FieldRule {
    RULES
        .iter()
        .copied()
        .find(|r| r.field == field)
        .unwrap_or(rule("unlisted", &[], false))
}

impl FieldRule {
    /// Every role that reads the field (customers their own rows only).
    pub fn roles(&self) -> Vec<Role> {
        let mut roles = self.any_row.to_vec();
        if self.own_rows {
            roles.push(Role::Customer);
        }
        roles.sort();
        roles
    }
}

/// Which rows a caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    AnyRow,
    /// Orders (and the customer record) of this customer id only.
    OwnRows(String),
}

impl Scope {
    /// Whether rows of `customer_id` are visible.
    pub fn admits(&self, customer_id: &str) -> bool {
        match self {
            Scope::AnyRow => true,
            Scope::OwnRows(me) => me == customer_id,
        }
    }

    /// The customer ids an order list must also match (ANDed in SQL).
    pub fn customer(&self) -> Option<&str> {
        match self {
            Scope::AnyRow => None,
            Scope::OwnRows(me) => Some(me),
        }
    }
}

/// The caller, as the HTTP handler or the WebSocket's `connection_init`
/// put it into the request or connection data.
fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Principal>().ok_or_else(|| {
        ErrorCode::Unauthenticated.error("this needs a bearer token (Authorization: Bearer …)")
    })
}

/// Decides for `principal` alone (unit-testable without a schema).
fn decide(principal: &Principal, field: &str) -> Result<Scope, String> {
    let rule = rule_for(field);
    if principal.has_any_role(rule.any_row) {
        return Ok(Scope::AnyRow);
    }
    if rule.own_rows && principal.has_role(Role::Customer) {
        return principal
            .customer_id
            .clone()
            .map(Scope::OwnRows)
            .ok_or_else(|| "the token carries no customer id".to_owned());
    }
    let names: Vec<&str> = rule.roles().iter().map(|r| r.as_str()).collect();
    Err(if names.is_empty() {
        format!("`{field}` is not open to any role")
    } else {
        format!("`{field}` needs one of the roles: {}", names.join(", "))
    })
}

/// The one check every root resolver makes first: may the caller read
/// `field` (`Query.orders`), and which rows? `FORBIDDEN` when not.
pub fn guard(ctx: &Context<'_>, field: &str) -> async_graphql::Result<Scope> {
    let principal = principal(ctx)?;
    decide(principal, field).map_err(|why| ErrorCode::Forbidden.error(why))
}

/// The rows a nested resolver (`Customer.orders`, `Customer.stats`) may
/// show: the scope of reading orders at all. Its object was reached through
/// a guarded root field; this keeps a later path to it from widening that.
pub fn row_scope(ctx: &Context<'_>) -> async_graphql::Result<Scope> {
    guard(ctx, "Query.orders")
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
    fn the_table_decides_fields_and_rows() {
        let customer = principal(&[Role::Customer], Some("c-1"));
        let own = Ok(Scope::OwnRows("c-1".into()));
        assert_eq!(decide(&customer, "Query.orders"), own);
        assert_eq!(decide(&customer, "Query.order"), own);
        assert_eq!(decide(&customer, "Subscription.orderChanged"), own);
        assert!(decide(&customer, "Subscription.ordersChanged").is_err());
        assert!(decide(&customer, "Query.salesByDay").is_err());
        assert!(decide(&customer, "Query.projections").is_err());
        let staff = principal(&[Role::Staff], None);
        assert_eq!(decide(&staff, "Query.orders"), Ok(Scope::AnyRow));
        assert!(decide(&staff, "Query.topProducts").is_err());
        let finance = principal(&[Role::Finance], None);
        assert_eq!(decide(&finance, "Query.salesByDay"), Ok(Scope::AnyRow));
        let operator = principal(&[Role::Operator], None);
        assert_eq!(decide(&operator, "Query.projections"), Ok(Scope::AnyRow));
        assert!(decide(&operator, "Query.order").is_err());
        assert_eq!(decide(&operator, "Query.lowStock"), Ok(Scope::AnyRow));
        assert_eq!(decide(&staff, "Query.product"), Ok(Scope::AnyRow));
        assert!(decide(&finance, "Query.product").is_err());
        assert!(decide(&customer, "Query.lowStock").is_err());
        assert!(decide(&staff, "Query.notInTheTable").is_err());
        // Staff who are also customers read every row.
        let both = principal(&[Role::Customer, Role::Staff], Some("c-1"));
        assert_eq!(decide(&both, "Query.order"), Ok(Scope::AnyRow));
        let no_id = principal(&[Role::Customer], None);
        assert!(decide(&no_id, "Query.orders").is_err());
    }

    #[test]
    fn own_rows_admit_only_their_customer() {
        let own = Scope::OwnRows("c-1".into());
        assert!(own.admits("c-1"));
        assert!(!own.admits("c-2"));
        assert!(Scope::AnyRow.admits("c-2"));
    }
}
