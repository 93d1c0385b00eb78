//! Every event `decide` accepts survives the form the store keeps it in:
//! Postgres `jsonb`, written from JSON and read back as text, as the event
//! store does. serde_json alone is not enough: it happily keeps a NUL that
//! `jsonb` refuses, and `jsonb` reorders keys.

use std::cell::RefCell;

use orderflow_domain::OrderEvent;
use orderflow_testkit::TestDb;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sqlx::{Connection, PgConnection};

use crate::props::{ops, run_with};

fn jsonb_round_trip(
    rt: &tokio::runtime::Runtime,
    conn: &RefCell<PgConnection>,
    event: &OrderEvent,
) -> Result<(), TestCaseError> {
    let payload = event.payload();
    let text: String = rt
        .block_on(
            sqlx::query_scalar("SELECT $1::jsonb::text")
                .bind(&payload)
                .fetch_one(&mut *conn.borrow_mut()),
        )
        .map_err(|e| TestCaseError::fail(format!("jsonb refuses {event:?}: {e}")))?;
    let stored: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back = OrderEvent::from_payload(event.event_type(), event.schema_version(), stored);
    if back.as_ref() != Ok(event) {
        return Err(TestCaseError::fail(format!(
            "{event:?} came back from jsonb as {back:?}"
        )));
    }
    Ok(())
}

#[test]
fn every_accepted_event_survives_postgres_jsonb() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(TestDb::new());
    let conn = RefCell::new(rt.block_on(PgConnection::connect(db.url())).unwrap());
    let config = Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&ops(), |ops| {
        run_with(&ops, &mut |event| jsonb_round_trip(&rt, &conn, event)).map(|_| ())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
