//! Who a verified token speaks for.

use std::fmt;
use std::str::FromStr;

/// The roles orderflow knows. Role strings in a token that are none of
/// these are ignored, so a provider may carry roles for other systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Customer,
    Staff,
    Finance,
    Operator,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Customer, Role::Staff, Role::Finance, Role::Operator];

    /// The name used in tokens and in the documentation.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Finance => "finance",
            Role::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of orderflow's roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected customer, staff, finance or operator)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The caller of a request, as its verified token describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`.
    pub subject: String,
    /// orderflow roles only, without duplicates, in `Role` order.
    pub roles: Vec<Role>,
    /// The configured customer-id claim (default `sub`); `None` when the
    /// token lacks it, as service tokens usually do.
    pub customer_id: Option<String>,
    /// `azp` or `client_id`: the OAuth client the token was issued to,
    /// which names the service for client-credentials tokens.
    pub client_id: Option<String>,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// True when the principal holds at least one of `roles`.
    pub fn has_any_role(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has_role(*r))
    }

    /// `Ok` when the principal holds one of `roles`, else the 403 a
    /// handler returns with `?`.
    pub fn require_any_role(&self, roles: &[Role]) -> Result<(), Forbidden> {
        if self.has_any_role(roles) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(Forbidden(format!(
            "this needs one of the roles: {}",
            names.join(", ")
        )))
    }
}

/// A valid caller whose roles may not do this; answers with
/// [`forbidden_response`](crate::forbidden_response).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

impl axum::response::IntoResponse for Forbidden {
    fn into_response(self) -> axum::response::Response {
        crate::problem::forbidden_response(&self.0)
    }
}
