//! Where an order came from.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The sales channel an order was placed through: `web` (the web shop),
/// `mobile` (the mobile apps), `api` (a direct integration calling the REST
/// API on its own behalf), or `unknown` when the writer did not say —
/// every order created before `OrderCreated` v2, and every create-order
/// request that leaves the field out.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Mobile,
    Api,
    #[default]
    Unknown,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 4] = [Self::Web, Self::Mobile, Self::Api, Self::Unknown];

    /// The serialized name, e.g. `"web"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Mobile => "mobile",
            Self::Api => "api",
            Self::Unknown => "unknown",
        }
    }

    /// The channel serialized as `s`, if any.
    pub fn from_name(s: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Channel;

    #[test]
    fn names_round_trip_through_serde() {
        for c in Channel::ALL {
            let json = serde_json::to_value(c).ok();
            assert_eq!(json, Some(serde_json::json!(c.as_str())));
            assert_eq!(Channel::from_name(c.as_str()), Some(c));
        }
        assert_eq!(Channel::from_name("Web"), None);
        assert_eq!(Channel::default(), Channel::Unknown);
    }
}
