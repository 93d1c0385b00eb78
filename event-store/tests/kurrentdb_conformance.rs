//! The conformance suite against a KurrentDB server, when `KURRENTDB_URL`
//! names one (e.g. `kurrentdb://localhost:2113?tls=false`, as
//! `docker compose --profile kurrentdb up -d kurrentdb` serves it). The
//! tests are `#[ignore]`d, so a plain `cargo test` lists them as ignored;
//! run them with `--include-ignored` (they fail without `KURRENTDB_URL`):
//!
//! ```sh
//! KURRENTDB_URL='kurrentdb://localhost:2113?tls=false' \
//!   cargo test -p orderflow-event-store --features kurrentdb --test kurrentdb_conformance \
//!   -- --include-ignored
//! ```
//!
//! Each test gets its own stream namespace (`t<uuid v7>.`), so runs and
//! tests on a shared server never see each other's streams or keys.
#![cfg(feature = "kurrentdb")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use orderflow_event_store::conformance::Fixture;
use orderflow_event_store::{KurrentDbConfig, KurrentDbStore};
use uuid::Uuid;

async fn fresh() -> Result<Fixture<KurrentDbStore>, String> {
    let url = std::env::var("KURRENTDB_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let Some(url) = url else {
        return Err(
            "KURRENTDB_URL not set; set it (e.g. kurrentdb://localhost:2113?tls=false) \
             to run the conformance suite against KurrentDB"
                .into(),
        );
    };
    let mut config = KurrentDbConfig::new(url);
    config.namespace = format!("t{}.", Uuid::now_v7().simple());
    // The suite's streams are all `conf-…`.
    config.stream_prefixes = vec!["conf-".into()];
    let store = KurrentDbStore::connect(config).expect("KURRENTDB_URL is a connection string");
    store
        .ping()
        .await
        .expect("the KurrentDB server at KURRENTDB_URL answers");
    Ok(Fixture {
        store: Arc::new(store),
        // `$all` only ever holds committed events: nothing can commit
        // behind the store's back with a lower position.
        side_writer: None,
        guard: Box::new(()),
    })
}

orderflow_event_store::conformance_tests!(
    optional fresh,
    "needs KURRENTDB_URL: a running KurrentDB server",
    per_stream_event_ids
);
