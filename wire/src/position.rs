//! Where an event sits in the store's total order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An opaque, totally ordered position in the global event log.
///
/// It is a pair because no single number orders a Postgres log correctly:
/// there it is `(transaction id, global position)`; KurrentDB's is
/// `(commit, prepare)`. Callers only compare positions and pass them back,
/// so the meaning of the halves stays inside each store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    major: u64,
    minor: u64,
}

impl Position {
    /// Before the first event: reading "after START" reads everything.
    pub const START: Position = Position { major: 0, minor: 0 };

    pub const fn new(major: u64, minor: u64) -> Position {
        Position { major, minor }
    }

    pub const fn major(self) -> u64 {
        self.major
    }

    pub const fn minor(self) -> u64 {
        self.minor
    }
}

/// The token form, e.g. `"7433.1042"`, used in headers and checkpoints.
impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a position token: {0:?} (expected two integers joined by '.', e.g. \"7433.1042\")")]
pub struct ParsePositionError(String);

impl FromStr for Position {
    type Err = ParsePositionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParsePositionError(s.chars().take(64).collect());
        let (major, minor) = s.trim().split_once('.').ok_or_else(err)?;
        Ok(Position {
            major: major.parse().map_err(|_| err())?,
            minor: minor.parse().map_err(|_| err())?,
        })
    }
}

impl Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_major_then_minor() {
        assert!(Position::new(1, 99) < Position::new(2, 0));
        assert!(Position::new(2, 1) < Position::new(2, 2));
        assert!(Position::START < Position::new(0, 1));
    }

    #[test]
    fn token_round_trips() {
        let p = Position::new(7433, 1042);
        assert_eq!(p.to_string(), "7433.1042");
        assert_eq!("7433.1042".parse::<Position>(), Ok(p));
        assert_eq!(
            serde_json::to_string(&p).ok().as_deref(),
            Some("\"7433.1042\"")
        );
    }

    #[test]
    fn rejects_malformed_tokens() {
        for bad in ["", "12", "a.b", "1.2.3", "-1.2", "1."] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?} parsed");
        }
    }
}
