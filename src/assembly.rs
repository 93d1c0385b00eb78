//! [`Pipeline`]: starts the configured services on one event store and
//! stops them together.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orderflow_auth::Verifier;
use orderflow_command_api::CommandApiConfig;
use orderflow_event_store::{EventStore, PgEventStore, PgStoreConfig, StoreError};
use orderflow_fulfilment::{FulfilmentConfig, InventoryStock, NoProvider, RefundPort};
use orderflow_projections::{ProjectionError, ProjectorConfig, connect_read_db};
use orderflow_query_api::{QueryApi, QueryApiConfig, QueryApiError};
use orderflow_relay::{RelayConfig, run_relay};
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::event_stores::{EventStores, StoreConfig};

/// The projector's connections to the read database.
const PROJECTOR_READ_CONNECTIONS: u32 = 16;

/// The projector's own connections to the events database, so its reads
/// never queue behind the command API's appends.
const PROJECTOR_EVENTS_CONNECTIONS: u32 = 8;

/// The store the projector reads: on Postgres a store of its own, on its
/// own pool (see [`PROJECTOR_EVENTS_CONNECTIONS`]); otherwise the shared one.
fn projector_store(stores: &EventStores) -> Arc<dyn EventStore> {
    match stores.events_pool() {
        Some(pool) => {
            let pool = PgPoolOptions::new()
                .max_connections(PROJECTOR_EVENTS_CONNECTIONS)
                .connect_lazy_with((*pool.connect_options()).clone());
            let config = PgStoreConfig {
                writers: 1,
                ..PgStoreConfig::new("")
            };
            // It never appends: its one writer task stays idle.
            Arc::new(PgEventStore::with_pool(pool, &config))
        }
        None => stores.events(),
    }
}

/// After one service fails, how long the others get to stop before they
/// are aborted.
const FAILURE_GRACE: Duration = Duration::from_secs(5);

/// Which services run; each is off when `None`.
#[derive(Debug, Clone, Default)]
pub struct Services {
    pub relay: Option<RelayConfig>,
    pub projector: Option<ProjectorConfig>,
    pub command_api: Option<CommandApiService>,
    pub query_api: Option<QueryApiService>,
    /// The fulfilment process manager (saga).
    pub fulfilment: Option<FulfilmentService>,
}

/// The fulfilment process manager, and the payment provider it asks for
/// refunds.
#[derive(Clone)]
pub struct FulfilmentService {
    pub config: FulfilmentConfig,
    pub refunds: Arc<dyn RefundPort>,
}

impl FulfilmentService {
    /// Without a payment provider: refunds wait, retried every
    /// `config.refund_retry`, and are never dropped.
    pub fn without_provider(config: FulfilmentConfig) -> FulfilmentService {
        let refunds = Arc::new(NoProvider {
            retry_after: config.refund_retry,
        });
        FulfilmentService { config, refunds }
    }
}

impl FulfilmentService {
    /// Refunds through the payment provider when one is configured,
    /// waiting (see [`FulfilmentService::without_provider`]) otherwise.
    pub fn with_provider(
        config: FulfilmentConfig,
        provider: Option<orderflow_payments::ProviderConfig>,
    ) -> Result<FulfilmentService, orderflow_payments::ClientBuildError> {
        let Some(provider) = provider else {
            return Ok(FulfilmentService::without_provider(config));
        };
        let client = orderflow_payments::Client::new(provider)?;
        let refunds = Arc::new(orderflow_fulfilment::ProviderRefunds::new(
            client,
            config.refund_retry,
        ));
        Ok(FulfilmentService { config, refunds })
    }
}

impl std::fmt::Debug for FulfilmentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FulfilmentService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The command API: where it listens, and who checks its bearer tokens
/// (there is no command API without a verifier).
#[derive(Debug, Clone)]
pub struct CommandApiService {
    pub config: CommandApiConfig,
    pub verifier: Arc<Verifier>,
}

/// The query API: its settings, and who checks its bearer tokens (in
/// `orderflow up` the same verifier as the command API's).
#[derive(Debug, Clone)]
pub struct QueryApiService {
    pub config: QueryApiConfig,
    pub verifier: Arc<Verifier>,
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub store: StoreConfig,
    pub services: Services,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot open the Postgres database")]
    Postgres {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot open the read database")]
    ReadDatabase {
        url: String,
        #[source]
        source: ProjectionError,
    },
    #[error("KurrentDB does not answer")]
    KurrentDb {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error(
        "EVENT_STORE=kurrentdb, but this orderflow binary was built without KurrentDB support \
         (build it with `cargo build --features kurrentdb`)"
    )]
    NoKurrentDbSupport,
    #[error("events stored in Postgres need the Postgres events database")]
    NoEventsDatabase,
    #[error("the relay needs the Postgres events database (its checkpoint and leader lock)")]
    RelayWithoutPostgres,
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("query API")]
    QueryApi(#[source] QueryApiError),
    #[error("{service}")]
    Service {
        service: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl PipelineError {
    /// The Postgres server that could not be used, if that is the cause,
    /// so the CLI can say how to start one.
    pub fn unreachable_postgres(&self) -> Option<&str> {
        match self {
            PipelineError::Postgres { url, .. } | PipelineError::ReadDatabase { url, .. } => {
                Some(url)
            }
            _ => None,
        }
    }
}

type Outcome = Result<(), PipelineError>;

/// The running services. Drop it only after [`Pipeline::shutdown`]: dropping
/// it aborts them.
#[derive(Debug)]
pub struct Pipeline {
    stores: EventStores,
    command_api: Option<SocketAddr>,
    query_api: Option<(SocketAddr, QueryApi)>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Outcome>,
}

impl Pipeline {
    /// Opens the store, then starts the services on it.
    pub async fn start(config: PipelineConfig) -> Result<Pipeline, PipelineError> {
        // `main` has done this; a pipeline in another process (a test,
        // an embedding) gets the same provider before its first TLS use.
        crate::install_crypto_provider();
        let stores = EventStores::open(&config.store).await?;
        Pipeline::start_on(stores, config.services).await
    }

    /// Starts the services on an opened store. Listeners are bound and
    /// databases connected before anything runs, so a taken port or a
    /// missing server fails the start rather than a task.
    pub async fn start_on(
        stores: EventStores,
        services: Services,
    ) -> Result<Pipeline, PipelineError> {
        crate::install_crypto_provider();
        let command = match services.command_api {
            Some(api) => Some((bind(api.config.addr).await?, api)),
            None => None,
        };
        let query = match services.query_api {
            Some(QueryApiService { config, verifier }) => {
                // The API connects lazily, but to a database that exists: the
                // projector, which would create it, may not have started.
                orderflow_event_store::ensure_database(&config.read_database_url)
                    .await
                    .map_err(|source| PipelineError::Postgres {
                        url: config.read_database_url.clone(),
                        source,
                    })?;
                let api = QueryApi::connect(&config, Some(stores.events()), verifier)
                    .await
                    .map_err(PipelineError::QueryApi)?;
                Some((bind(config.addr).await?, api))
            }
            None => None,
        };
        let projector = match services.projector {
            Some(config) => {
                let read = connect_read_db(&config.read_database_url, PROJECTOR_READ_CONNECTIONS)
                    .await
                    .map_err(|source| PipelineError::ReadDatabase {
                        url: config.read_database_url.clone(),
                        source,
                    })?;
                Some((read, projector_store(&stores), config))
            }
            None => None,
        };
        let fulfilment = match services.fulfilment {
            Some(saga) => {
                let pool = orderflow_fulfilment::connect(&saga.config.database_url)
                    .await
                    .map_err(service("fulfilment"))?;
                Some((pool, saga))
            }
            None => None,
        };
        let relay = match services.relay {
            Some(config) => {
                let pg = stores
                    .postgres()
                    .ok_or(PipelineError::RelayWithoutPostgres)?;
                Some((pg.pool().clone(), config))
            }
            None => None,
        };

        let (stop, _) = watch::channel(false);
        let stopped = || {
            let mut rx = stop.subscribe();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let mut tasks = JoinSet::new();
        if let Some((pool, config)) = relay {
            let run = run_relay(stores.events(), pool, config, stopped());
            tasks.spawn(async move { run.await.map_err(service("relay")) });
        }
        if let Some((read, store, config)) = projector {
            let run = orderflow_projections::run_projector_with(store, read, config, stopped());
            tasks.spawn(async move { run.await.map_err(service("projector")) });
        }
        if let Some((pool, saga)) = fulfilment {
            // Registered before any deadline fires, so its (empty) buckets
            // show on /metrics for the dashboard and alerts.
            let _ = metrics::histogram!("orderflow_fulfilment_deadline_lag_seconds");
            let store = stores.events();
            let driver = orderflow_fulfilment::Driver::new(
                Arc::clone(&store),
                Arc::new(InventoryStock::new(Arc::clone(&store))),
                saga.refunds,
            );
            let run =
                orderflow_fulfilment::run_fulfilment(store, pool, driver, saga.config, stopped());
            tasks.spawn(async move { run.await.map_err(service("fulfilment")) });
        }
        let mut command_addr = None;
        if let Some(((listener, addr), api)) = command {
            command_addr = Some(addr);
            let run = orderflow_command_api::serve_on(
                listener,
                stores.events(),
                api.config,
                api.verifier,
                stopped(),
            );
            tasks.spawn(async move { run.await.map_err(service("command API")) });
        }
        let mut query_api = None;
        if let Some(((listener, addr), api)) = query {
            query_api = Some((addr, api.clone()));
            let run = orderflow_query_api::serve_api(listener, api, stopped());
            tasks.spawn(async move { run.await.map_err(service("query API")) });
        }
        Ok(Pipeline {
            stores,
            command_api: command_addr,
            query_api,
            stop,
            tasks,
        })
    }

    pub fn stores(&self) -> &EventStores {
        &self.stores
    }

    /// Where the command API listens, if it runs.
    pub fn command_api_addr(&self) -> Option<SocketAddr> {
        self.command_api
    }

    /// Where the query API listens, if it runs.
    pub fn query_api_addr(&self) -> Option<SocketAddr> {
        self.query_api.as_ref().map(|(addr, _)| *addr)
    }

    /// The query API's handle (its read database and statement counter).
    pub fn query_api(&self) -> Option<&QueryApi> {
        self.query_api.as_ref().map(|(_, api)| api)
    }

    /// Stops every service and waits for all of them; the first failure,
    /// if any, is the result.
    pub async fn shutdown(mut self) -> Result<(), PipelineError> {
        let _ = self.stop.send(true);
        let mut first = Ok(());
        while let Some(done) = self.tasks.join_next().await {
            let outcome = done.unwrap_or_else(|e| Err(panicked(e)));
            if first.is_ok() {
                first = outcome;
            }
        }
        first
    }

    /// Runs until `signal` (then stops every service, as
    /// [`Pipeline::shutdown`]) or until a service fails (then stops the
    /// others and returns its error).
    pub async fn run_until(
        mut self,
        signal: impl Future<Output = ()>,
    ) -> Result<(), PipelineError> {
        tokio::pin!(signal);
        loop {
            tokio::select! {
                () = &mut signal => return self.shutdown().await,
                done = self.tasks.join_next() => match done {
                    // Every service has ended on its own.
                    None => return Ok(()),
                    Some(Ok(Ok(()))) => {}
                    Some(done) => {
                        let _ = self.stop.send(true);
                        // The others get a moment to stop cleanly; dropping
                        // the set then aborts whatever still runs.
                        let _ = tokio::time::timeout(FAILURE_GRACE, async {
                            while self.tasks.join_next().await.is_some() {}
                        })
                        .await;
                        return done.unwrap_or_else(|e| Err(panicked(e)));
                    }
                },
            }
        }
    }
}

/// The listener and the address it got (port 0 picks a free one).
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), PipelineError> {
    let listen_failed = |source| PipelineError::Listen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(listen_failed)?;
    let bound = listener.local_addr().map_err(listen_failed)?;
    Ok((listener, bound))
}

fn service<E>(name: &'static str) -> impl FnOnce(E) -> PipelineError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| PipelineError::Service {
        service: name,
        source: Box::new(e),
    }
}

fn panicked(e: tokio::task::JoinError) -> PipelineError {
    PipelineError::Service {
        service: "a service task",
        source: Box::new(e),
    }
}
