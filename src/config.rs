//! Command-line and environment settings, and the one place that turns
//! them into the libraries' configs. Every default is the library's own
//! (its `Default` or its constants), quoted here, never restated.
//!
//! URL arguments may carry a password, so their environment values never
//! show in `--help` (`hide_env_values`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::BoolishValueParser;
use orderflow_auth::{AuthSettings, DEFAULT_DEV_KEY_FILE};
use orderflow_command_api::{CommandApiConfig, DEFAULT_BODY_LIMIT};
use orderflow_event_store::PgStoreConfig;
use orderflow_projections::ProjectorConfig;
use orderflow_query_api::{QueryApiConfig, QueryLimits};
use orderflow_relay::RelayConfig;

/// Where the events live and how the store writes.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The events database.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true,
        default_value = PgStoreConfig::DEFAULT_URL)]
    pub database_url: String,
    /// Connections to the events database.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = PgStoreConfig::DEFAULT_MAX_CONNECTIONS)]
    pub database_max_connections: u32,
    /// Group-commit writer tasks.
    #[arg(long, env = "STORE_WRITERS", default_value_t = PgStoreConfig::DEFAULT_WRITERS)]
    pub store_writers: usize,
    #[command(flatten)]
    pub choice: crate::event_store_choice::EventStoreArgs,
}

/// The events store's settings (a pool of at least two: the writers and
/// the readers must not starve each other; at least one writer).
pub fn pg_store_config(args: &StoreArgs) -> PgStoreConfig {
    let mut config = PgStoreConfig::new(&args.database_url);
    config.max_connections = args.database_max_connections.max(2);
    config.writers = args.store_writers.max(1);
    config
}

#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS with JetStream.
    #[arg(long, env = "NATS_URL", hide_env_values = true,
        default_value_t = RelayConfig::default().nats_url)]
    pub nats_url: String,
    /// JetStream stream the relay publishes to.
    #[arg(long, env = "EVENTS_STREAM", default_value_t = RelayConfig::default().stream_name)]
    pub events_stream: String,
    /// First token of every subject (`<prefix>.events.…`, `<prefix>.changes.…`).
    #[arg(long, env = "SUBJECT_PREFIX", default_value_t = RelayConfig::default().subject_prefix)]
    pub subject_prefix: String,
}

/// The relay's JetStream stream, wherever a relay runs (`relay`, inside
/// `command-api` unless `NO_RELAY`, `up`).
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// How long JetStream keeps events, in hours (0 = forever); the store
    /// keeps them regardless.
    #[arg(long, env = "EVENTS_RETENTION_HOURS", default_value_t = default_retention_hours())]
    pub retention_hours: u64,
    /// Copies of the events stream in the NATS cluster (1-5; 1 on a single
    /// server). Unset: a new stream gets 1 and an existing one keeps its
    /// own. Never lowers an existing stream's (the relay stops instead).
    #[arg(long, env = "EVENTS_STREAM_REPLICAS",
        value_parser = clap::value_parser!(u8).range(1..=5))]
    pub stream_replicas: Option<u8>,
}

#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub stream: StreamArgs,
}

/// The relay's own retention, in whole hours.
pub fn default_retention_hours() -> u64 {
    RelayConfig::default().max_age.as_secs() / 3600
}

pub fn relay_config(args: &RelayArgs) -> RelayConfig {
    RelayConfig {
        nats_url: args.nats.nats_url.clone(),
        stream_name: args.nats.events_stream.clone(),
        subject_prefix: args.nats.subject_prefix.clone(),
        max_age: Duration::from_secs(args.stream.retention_hours.saturating_mul(3600)),
        stream_replicas: args.stream.stream_replicas.map(usize::from),
        ..RelayConfig::default()
    }
}

/// The read models' database by default: the projector's.
pub fn default_read_database_url() -> String {
    ProjectorConfig::default().read_database_url
}

#[derive(Debug, Clone, Args)]
pub struct ProjectorArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The read models' database (created if missing).
    #[arg(long, env = "READ_DATABASE_URL", hide_env_values = true,
        default_value_t = default_read_database_url())]
    pub read_database_url: String,
    /// Run only these projections (comma-separated); all by default.
    #[arg(long, env = "PROJECTIONS", value_delimiter = ',')]
    pub projections: Option<Vec<String>>,
}

pub fn projector_config(args: &ProjectorArgs) -> ProjectorConfig {
    ProjectorConfig {
        read_database_url: args.read_database_url.clone(),
        nats_url: args.nats.nats_url.clone(),
        stream_name: args.nats.events_stream.clone(),
        subject_prefix: args.nats.subject_prefix.clone(),
        projections: args.projections.clone(),
        ..ProjectorConfig::default()
    }
}

#[derive(Debug, Clone, Args)]
pub struct CommandApiArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address the command API listens on.
    #[arg(long, env = "COMMAND_API_ADDR", default_value_t = CommandApiConfig::default().addr)]
    pub command_api_addr: SocketAddr,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "COMMAND_API_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Do not run a relay candidate inside the command API process
    /// (`NO_RELAY=1`, `true`, `yes` or `on`).
    #[arg(long, env = "NO_RELAY", value_parser = BoolishValueParser::new(),
        action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", hide_possible_values = true)]
    pub no_relay: bool,
    /// How long an Idempotency-Key is remembered (`24h`, `90m`, `30s`);
    /// after that the key is new again.
    #[arg(long, env = "IDEMPOTENCY_TTL", value_parser = parse_duration,
        default_value_t = CommandApiConfig::default().idempotency_ttl.into())]
    pub idempotency_ttl: humantime::Duration,
    /// How often expired idempotency keys are deleted, in small batches.
    #[arg(long, env = "IDEMPOTENCY_CLEANUP_INTERVAL", value_parser = parse_duration,
        default_value_t = CommandApiConfig::DEFAULT_IDEMPOTENCY_CLEANUP_EVERY.into())]
    pub idempotency_cleanup_interval: humantime::Duration,
    /// In `up`, the query API takes these limits too.
    #[command(flatten)]
    pub rate_limit: crate::rate_limit_args::RateLimitArgs,
    /// The internal metrics listener (in `up`, for the whole process).
    #[command(flatten)]
    pub ops: crate::ops_server::OpsArgs,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The stream of the relay candidate inside this process (and of `up`).
    #[command(flatten)]
    pub stream: StreamArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub payments: crate::payment_args::PaymentArgs,
}

/// Who the APIs trust to sign bearer tokens. With neither a JWKS URL nor
/// file, the services run in (loudly announced) development mode on the
/// local development key.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// The identity provider's JWKS (its `jwks_uri`).
    #[arg(long, env = "AUTH_JWKS_URL", hide_env_values = true)]
    pub auth_jwks_url: Option<String>,
    /// A JWKS file instead of a URL (e.g. a mounted secret).
    #[arg(long, env = "AUTH_JWKS_FILE")]
    pub auth_jwks_file: Option<PathBuf>,
    /// The only accepted `iss` (required with a JWKS).
    #[arg(long, env = "AUTH_ISSUER", hide_env_values = true)]
    pub auth_issuer: Option<String>,
    /// The `aud` tokens must name (required with a JWKS).
    #[arg(long, env = "AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,
    /// The claim holding the roles, a dotted path (`realm_access.roles`).
    #[arg(long, env = "AUTH_ROLES_CLAIM", default_value_t = AuthSettings::default().roles_claim)]
    pub auth_roles_claim: String,
    /// The claim holding the customer id.
    #[arg(long, env = "AUTH_CUSTOMER_ID_CLAIM",
        default_value_t = AuthSettings::default().customer_id_claim)]
    pub auth_customer_id_claim: String,
    /// The development signing key, used only without a JWKS (created if
    /// missing).
    #[arg(long, env = "AUTH_DEV_KEY_FILE", default_value = DEFAULT_DEV_KEY_FILE)]
    pub auth_dev_key_file: PathBuf,
}

pub fn auth_settings(args: &AuthArgs) -> AuthSettings {
    AuthSettings {
        jwks_url: args.auth_jwks_url.clone().filter(|s| !s.is_empty()),
        jwks_file: args
            .auth_jwks_file
            .clone()
            .filter(|p| !p.as_os_str().is_empty()),
        issuer: args.auth_issuer.clone(),
        audience: args.auth_audience.clone(),
        roles_claim: args.auth_roles_claim.clone(),
        customer_id_claim: args.auth_customer_id_claim.clone(),
        dev_key_file: args.auth_dev_key_file.clone(),
        ..AuthSettings::default()
    }
}

pub fn command_api_config(args: &CommandApiArgs) -> CommandApiConfig {
    CommandApiConfig {
        addr: args.command_api_addr,
        body_limit: args.body_limit,
        rate_limit: args.rate_limit.config(),
        payment_webhook: args.payments.config().webhook,
        idempotency_ttl: args.idempotency_ttl.into(),
        idempotency_cleanup_every: args.idempotency_cleanup_interval.into(),
    }
}

/// A duration setting such as `24h`, `15m`, `1h 30m` or `500ms`; zero is
/// refused (a key that expires at once would make retries unsafe).
pub(crate) fn parse_duration(text: &str) -> Result<humantime::Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration like 24h, 15m or 30s: {e}"))?;
    if d.is_zero() {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(d.into())
}

/// Milliseconds of a library default, for a `*_ms` argument.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Args)]
pub struct QueryApiArgs {
    /// Address the GraphQL API listens on.
    #[arg(long, env = "QUERY_API_ADDR", default_value_t = QueryApiConfig::default().addr)]
    pub query_api_addr: SocketAddr,
    /// How long a query sent with X-Orderflow-Position waits, in milliseconds.
    #[arg(long, env = "POSITION_WAIT_MS",
        default_value_t = millis(QueryApiConfig::default().position_wait))]
    pub position_wait_ms: u64,
    /// Longest one read-database statement may run, in milliseconds
    /// (Postgres statement_timeout); past it the field fails with TIMEOUT.
    #[arg(long, env = "QUERY_STATEMENT_TIMEOUT_MS",
        default_value_t = millis(QueryLimits::default().statement_timeout))]
    pub statement_timeout_ms: u64,
    /// Most WebSocket connections open at once from one client IP address.
    #[arg(long, env = "QUERY_MAX_WS_PER_CLIENT",
        default_value_t = QueryLimits::default().max_ws_connections_per_client)]
    pub max_ws_per_client: usize,
    /// Most subscriptions open at once on this process.
    #[arg(long, env = "QUERY_MAX_SUBSCRIPTIONS",
        default_value_t = QueryLimits::default().max_subscriptions_total)]
    pub max_subscriptions: usize,
    #[command(flatten)]
    pub persisted: crate::persisted_args::PersistedArgs,
}

pub fn query_api_config(
    api: &QueryApiArgs,
    read_database_url: &str,
    nats_url: &str,
    subject_prefix: &str,
) -> QueryApiConfig {
    QueryApiConfig {
        addr: api.query_api_addr,
        read_database_url: read_database_url.to_owned(),
        nats_url: nats_url.to_owned(),
        subject_prefix: subject_prefix.to_owned(),
        position_wait: Duration::from_millis(api.position_wait_ms),
        limits: QueryLimits {
            statement_timeout: Duration::from_millis(api.statement_timeout_ms),
            max_ws_connections_per_client: api.max_ws_per_client,
            max_subscriptions_total: api.max_subscriptions,
            ..QueryLimits::default()
        },
        ..QueryApiConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn ttl(args: &[&str]) -> Option<std::time::Duration> {
        let mut all = vec!["orderflow", "command-api"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).ok()?.command {
            Command::CommandApi(api) => Some(super::command_api_config(&api).idempotency_ttl),
            _ => None,
        }
    }

    #[test]
    fn idempotency_ttl_reads_human_durations() {
        use std::time::Duration;
        assert_eq!(ttl(&[]), Some(Duration::from_secs(24 * 3600)));
        assert_eq!(
            ttl(&["--idempotency-ttl", "90m"]),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            ttl(&["--idempotency-ttl", "1h 30s"]),
            Some(Duration::from_secs(3630))
        );
        assert_eq!(ttl(&["--idempotency-ttl", "0s"]), None);
        assert_eq!(ttl(&["--idempotency-ttl", "soon"]), None);
    }

    fn stream(args: &[&str]) -> Option<(std::time::Duration, Option<usize>)> {
        let mut all = vec!["orderflow", "relay"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).ok()?.command {
            Command::Relay(relay) => {
                let c = super::relay_config(&relay.relay);
                Some((c.max_age, c.stream_replicas))
            }
            _ => None,
        }
    }

    /// Unset replicas stay unset (an existing stream keeps its own);
    /// NATS holds 1 to 5.
    #[test]
    fn stream_settings_reach_the_relay() {
        use std::time::Duration;
        assert_eq!(
            stream(&[]),
            Some((Duration::from_secs(7 * 24 * 3600), None))
        );
        assert_eq!(
            stream(&["--retention-hours", "2", "--stream-replicas", "3"]),
            Some((Duration::from_secs(7200), Some(3)))
        );
        assert_eq!(stream(&["--stream-replicas", "0"]), None);
        assert_eq!(stream(&["--stream-replicas", "6"]), None);
    }

    fn no_relay(args: &[&str]) -> Option<bool> {
        let mut all = vec!["orderflow", "command-api"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).ok()?.command {
            Command::CommandApi(api) => Some(api.no_relay),
            _ => None,
        }
    }

    /// The environment variable goes through the same parser as the flag's
    /// value (`tests/config.rs` runs the binary with `NO_RELAY` set).
    #[test]
    fn no_relay_values_mean_what_they_say() {
        assert_eq!(no_relay(&[]), Some(false));
        assert_eq!(no_relay(&["--no-relay"]), Some(true));
        for yes in ["1", "true", "yes", "on", "YES"] {
            assert_eq!(
                no_relay(&[&format!("--no-relay={yes}")]),
                Some(true),
                "{yes}"
            );
        }
        for no in ["0", "false", "no", "off", "Off"] {
            assert_eq!(
                no_relay(&[&format!("--no-relay={no}")]),
                Some(false),
                "{no}"
            );
        }
        assert_eq!(no_relay(&["--no-relay=maybe"]), None);
    }
}
