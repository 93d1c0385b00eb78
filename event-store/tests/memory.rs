//! The conformance suite against the in-memory store.

use std::sync::Arc;

use orderflow_event_store::InMemoryStore;
use orderflow_event_store::conformance::Fixture;

async fn fresh() -> Fixture<InMemoryStore> {
    Fixture {
        store: Arc::new(InMemoryStore::new()),
        side_writer: None,
        guard: Box::new(()),
    }
}

orderflow_event_store::conformance_tests!(fresh);
