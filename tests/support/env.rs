//! A test's own databases, store and NATS names, and the pipeline parts
//! started on them.

use std::sync::Arc;
use std::time::Duration;

use orderflow::{CommandApiService, EventStores, Pipeline, QueryApiService, Services};
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig, Position};
use orderflow_projections::{ProjectorConfig, connect_read_db, status_with_store};
use orderflow_query_api::QueryApiConfig;
use orderflow_relay::RelayConfig;
use orderflow_testkit::TestDb;
use sqlx::PgPool;
use uuid::Uuid;

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The databases live as long as the fixture.
pub struct Env {
    pub events_db: TestDb,
    pub read_db: TestDb,
    pub store: PgEventStore,
    /// The test's own pool on the read database.
    pub read: PgPool,
    pub prefix: String,
    pub stream_name: String,
    /// What [`Env::start_projector`] runs.
    pub config: ProjectorConfig,
    /// What [`Env::start_relay`] runs.
    pub relay: RelayConfig,
}

impl Env {
    /// Fresh databases and names; the projector with its default batches.
    pub async fn new() -> Env {
        let events_db = TestDb::new().await;
        let read_db = TestDb::new().await;
        let store = PgEventStore::connect(PgStoreConfig::new(events_db.url()))
            .await
            .unwrap();
        let read = connect_read_db(read_db.url(), 8).await.unwrap();
        let id = Uuid::now_v7().simple().to_string();
        let prefix = format!("t{id}");
        let stream_name = format!("TEST_{id}");
        let config = ProjectorConfig {
            read_database_url: read_db.url().to_owned(),
            nats_url: nats_url(),
            stream_name: stream_name.clone(),
            subject_prefix: prefix.clone(),
            standby_interval: Duration::from_millis(200),
            ..ProjectorConfig::default()
        };
        let relay = RelayConfig {
            nats_url: nats_url(),
            stream_name: stream_name.clone(),
            subject_prefix: prefix.clone(),
            max_age: Duration::from_secs(600),
            ..RelayConfig::default()
        };
        Env {
            events_db,
            read_db,
            store,
            read,
            prefix,
            stream_name,
            config,
            relay,
        }
    }

    /// Same, with small batches and fast retries, so a few thousand events
    /// cross many batch and flush boundaries (the projector's own tests).
    pub async fn small_batches() -> Env {
        // `RUST_LOG=orderflow_projections=debug` shows what the projector
        // does. Only here: the observability tests install their own.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut env = Env::new().await;
        env.config = ProjectorConfig {
            batch_size: 200,
            rebuild_batch_size: 500,
            rebuild_flush_events: 1500,
            retry_backoff: Duration::from_millis(10),
            ..env.config
        };
        env
    }

    pub fn store(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }

    /// The query API as `orderflow up` configures it, on this test's
    /// databases and a free port.
    pub fn query_config(&self) -> QueryApiConfig {
        QueryApiConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            read_database_url: self.read_db.url().to_owned(),
            nats_url: nats_url(),
            subject_prefix: self.prefix.clone(),
            console: orderflow_query_api::ConsoleConfig {
                relay_database_url: Some(self.events_db.url().to_owned()),
                ..Default::default()
            },
            ..QueryApiConfig::default()
        }
    }

    /// `services` on this test's store.
    /// Relay, projector and both APIs (on free ports, one verifier): the
    /// whole system but the fulfilment saga, which callers add if needed.
    pub fn api_services(
        &self,
        query: QueryApiConfig,
        verifier: Arc<orderflow_auth::Verifier>,
    ) -> Services {
        Services {
            relay: Some(self.relay.clone()),
            projector: Some(self.config.clone()),
            command_api: Some(CommandApiService {
                config: orderflow_command_api::CommandApiConfig {
                    addr: "127.0.0.1:0".parse().unwrap(),
                    ..Default::default()
                },
                verifier: Arc::clone(&verifier),
            }),
            query_api: Some(QueryApiService {
                config: query,
                verifier,
            }),
            fulfilment: None,
        }
    }

    pub async fn start(&self, services: Services) -> Pipeline {
        Pipeline::start_on(EventStores::on_postgres(self.store.clone()), services)
            .await
            .unwrap()
    }

    pub async fn start_projector(&self) -> Running {
        self.start_projector_with(self.config.clone()).await
    }

    pub async fn start_projector_with(&self, config: ProjectorConfig) -> Running {
        Running(
            self.start(Services {
                projector: Some(config),
                ..Services::default()
            })
            .await,
        )
    }

    pub async fn start_relay(&self) -> Running {
        Running(
            self.start(Services {
                relay: Some(self.relay.clone()),
                ..Services::default()
            })
            .await,
        )
    }

    /// Deletes the test's JetStream stream.
    pub async fn cleanup(&self) {
        if let Ok(c) = async_nats::connect(nats_url()).await {
            let _ = async_nats::jetstream::new(c)
                .delete_stream(&self.stream_name)
                .await;
        }
    }

    /// Waits until every projection not in `stopped` has reached `target`.
    pub async fn wait_for(&self, target: Position, stopped: &[&str]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let status = status_with_store(&self.store, &self.read).await.unwrap();
            let done = status.iter().all(|s| {
                stopped.contains(&s.name.as_str()) || s.position.is_some_and(|p| p >= target)
            });
            if done {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "projections never reached {target}: {status:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One part of the pipeline, running until [`Running::stop`].
pub struct Running(Pipeline);

impl Running {
    /// Stops it; it must end without an error.
    pub async fn stop(self) {
        self.0.shutdown().await.unwrap();
    }
}
