//! NATS subjects and the JetStream stream the relay publishes events to.

/// The first subject token unless configured otherwise.
pub const DEFAULT_PREFIX: &str = "orderflow";

/// The JetStream stream that holds every event unless configured otherwise.
pub const DEFAULT_EVENTS_STREAM: &str = "ORDERFLOW_EVENTS";

/// `<prefix>.events.<category>.<EventType>`, where the category is the
/// part of the stream id before its first `-`. Subject tokens cannot hold
/// spaces, dots or wildcards, so any such character becomes `_`.
pub fn event_subject(prefix: &str, category: &str, event_type: &str) -> String {
    format!("{prefix}.events.{}.{}", token(category), token(event_type))
}

/// Every event subject under `prefix` (what the events stream captures).
pub fn all_events(prefix: &str) -> String {
    format!("{prefix}.events.>")
}

fn token(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_uses_category_and_type() {
        assert_eq!(
            event_subject("of", "order", "ItemAdded"),
            "of.events.order.ItemAdded"
        );
        assert_eq!(token("a.b c*>"), "a_b_c__");
        assert_eq!(all_events("of"), "of.events.>");
    }
}
