//! Opaque keyset cursors: the sort key's value and the order id at a place
//! in a list. Unlike offsets they stay correct while orders are added.
//!
//! Wire form: URL-safe base64 of `v1:<key>:<value>:<uuid>`, where `<key>`
//! names the sort key so a cursor cannot be reused with another `orderBy`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use uuid::Uuid;

use crate::db::{KeyValue, Keyset, SortKey};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("malformed cursor")]
    Malformed,
    #[error("cursor belongs to a list with a different orderBy")]
    OtherSort,
}

fn tag(key: SortKey) -> &'static str {
    match key {
        SortKey::PlacedAt => "p",
        SortKey::UpdatedAt => "u",
        SortKey::Total => "t",
    }
}

pub fn encode(key: SortKey, at: Keyset) -> String {
    let value = match at.value {
        KeyValue::Time(t) => t.timestamp_micros(),
        KeyValue::Int(n) => n,
    };
    URL_SAFE_NO_PAD.encode(format!("v1:{}:{value}:{}", tag(key), at.id.simple()))
}

pub fn decode(key: SortKey, cursor: &str) -> Result<Keyset, CursorError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| CursorError::Malformed)?;
    let text = String::from_utf8(bytes).map_err(|_| CursorError::Malformed)?;
    let mut parts = text.split(':');
    let (Some("v1"), Some(t), Some(value), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(CursorError::Malformed);
    };
    if !["p", "u", "t"].contains(&t) {
        return Err(CursorError::Malformed);
    }
    if t != tag(key) {
        return Err(CursorError::OtherSort);
    }
    let n: i64 = value.parse().map_err(|_| CursorError::Malformed)?;
    let id = Uuid::parse_str(id).map_err(|_| CursorError::Malformed)?;
    let value = match key {
        SortKey::PlacedAt | SortKey::UpdatedAt => {
            KeyValue::Time(DateTime::from_timestamp_micros(n).ok_or(CursorError::Malformed)?)
        }
        SortKey::Total => KeyValue::Int(n),
    };
    Ok(Keyset { value, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_sorts_and_junk() {
        let id = Uuid::now_v7();
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default();
        let at = Keyset {
            value: KeyValue::Time(t),
            id,
        };
        let c = encode(SortKey::PlacedAt, at);
        assert_eq!(decode(SortKey::PlacedAt, &c), Ok(at));
        assert_eq!(decode(SortKey::UpdatedAt, &c), Err(CursorError::OtherSort));
        let total = Keyset {
            value: KeyValue::Int(-42),
            id,
        };
        assert_eq!(
            decode(SortKey::Total, &encode(SortKey::Total, total)),
            Ok(total)
        );
        for junk in ["", "!!", "djE6cDox", &URL_SAFE_NO_PAD.encode("v1:x:1:abc")] {
            assert_eq!(decode(SortKey::Total, junk), Err(CursorError::Malformed));
        }
    }
}
