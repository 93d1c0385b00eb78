//! Logging setup shared by every subcommand.

use tracing_subscriber::EnvFilter;

/// `RUST_LOG` wins over the `--log` flag; both take tracing filter syntax.
pub fn init_logging(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
