//! The `operation` label of the GraphQL latency histogram. Operation names
//! come from clients, so the label set is bounded: the first
//! [`MAX_NAMES`] well-formed names this process sees keep their own series,
//! any later one is `other`, and an unnamed operation is `anonymous`. A
//! client inventing names costs at most that many series per process.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};

/// Distinct operation names labelled per process.
pub(crate) const MAX_NAMES: usize = 100;
/// Longer names are `other` (GraphQL sets no limit).
const MAX_NAME_LEN: usize = 64;

pub(crate) const ANONYMOUS: &str = "anonymous";
pub(crate) const OTHER: &str = "other";

/// The name the request runs: `operationName`, or the document's only
/// named operation.
pub(crate) fn operation_name<'a>(
    requested: Option<&'a str>,
    doc: Option<&'a ExecutableDocument>,
) -> Option<&'a str> {
    if let Some(name) = requested.filter(|n| !n.is_empty()) {
        return Some(name);
    }
    match &doc?.operations {
        DocumentOperations::Multiple(ops) if ops.len() == 1 => {
            ops.keys().next().map(|n| n.as_str())
        }
        _ => None,
    }
}

/// The label for `name` in this process (see the module's doc).
pub(crate) fn label(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Mutex::default);
    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    label_in(&mut seen, name)
}

fn label_in(seen: &mut HashSet<String>, name: Option<&str>) -> String {
    let Some(name) = name else {
        return ANONYMOUS.to_owned();
    };
    if !well_formed(name) {
        return OTHER.to_owned();
    }
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() < MAX_NAMES {
        seen.insert(name.to_owned());
        return name.to_owned();
    }
    OTHER.to_owned()
}

/// A GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`) of at most 64 characters, and
/// not one of the reserved labels.
fn well_formed(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_NAME_LEN
        && bytes
            .next()
            .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
        && name != ANONYMOUS
        && name != OTHER
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    #[test]
    fn names_are_bounded_and_well_formed() {
        let mut seen = HashSet::new();
        assert_eq!(label_in(&mut seen, None), ANONYMOUS);
        assert_eq!(label_in(&mut seen, Some("Order")), "Order");
        assert_eq!(label_in(&mut seen, Some("bad name")), OTHER);
        assert_eq!(label_in(&mut seen, Some(&"x".repeat(65))), OTHER);
        assert_eq!(label_in(&mut seen, Some("other")), OTHER);
        for i in 1..MAX_NAMES {
            assert_eq!(
                label_in(&mut seen, Some(&format!("Op{i}"))),
                format!("Op{i}")
            );
        }
        assert_eq!(seen.len(), MAX_NAMES);
        // Full: new names share `other`, known ones keep theirs.
        assert_eq!(label_in(&mut seen, Some("Late")), OTHER);
        assert_eq!(label_in(&mut seen, Some("Order")), "Order");
    }

    #[test]
    fn the_documents_only_named_operation_names_it() {
        let named = parse_query("query Orders { x }").unwrap();
        let anonymous = parse_query("{ x }").unwrap();
        let two = parse_query("query A { x } query B { y }").unwrap();
        assert_eq!(operation_name(None, Some(&named)), Some("Orders"));
        assert_eq!(operation_name(None, Some(&anonymous)), None);
        assert_eq!(operation_name(None, Some(&two)), None);
        assert_eq!(operation_name(Some("B"), Some(&two)), Some("B"));
        assert_eq!(operation_name(Some(""), None), None);
    }
}
