//! How the process manager is configured.

use std::time::Duration;

use orderflow_subscriptions::RuntimeConfig;

#[derive(Debug, Clone)]
pub struct FulfilmentConfig {
    /// Its own database (`FULFILMENT_DATABASE_URL`): checkpoint, dead
    /// letters, instances, deadlines. Created if missing.
    pub database_url: String,
    /// How long a confirmed order may stay unpaid (`PAYMENT_TIMEOUT`).
    pub payment_timeout: Duration,
    /// How often due deadlines are looked for.
    pub scheduler_interval: Duration,
    /// An instance in an active phase without progress for this long is
    /// reported stuck.
    pub stuck_after: Duration,
    /// Retry delay of a refund when no provider is configured.
    pub refund_retry: Duration,
    /// The subscription runtime's settings. The instances act before a
    /// batch's transaction opens (it holds an xid, the checkpoint row lock,
    /// which holds back the store's watermark for every reader on the
    /// cluster), so a batch may be large: its transaction only folds the
    /// instances' own events and moves the checkpoint.
    pub runtime: RuntimeConfig,
}

impl Default for FulfilmentConfig {
    fn default() -> Self {
        FulfilmentConfig {
            database_url: "postgres://postgres@127.0.0.1:5432/orderflow_fulfilment".into(),
            payment_timeout: Duration::from_secs(30 * 60),
            scheduler_interval: Duration::from_secs(1),
            stuck_after: Duration::from_secs(5 * 60),
            refund_retry: Duration::from_secs(30),
            runtime: RuntimeConfig::default(),
        }
    }
}
