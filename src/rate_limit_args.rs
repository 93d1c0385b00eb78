//! The rate-limit settings both APIs take (flags and environment), turned
//! into the auth crate's [`RateLimitConfig`]. Limits read `<requests>/<s|m|h>`
//! with an optional ` burst <requests>`; they are per replica.

use clap::Args;
use orderflow_auth::{
    DEFAULT_ANONYMOUS, DEFAULT_CUSTOMER, DEFAULT_FINANCE, DEFAULT_OPERATOR, DEFAULT_STAFF, Limit,
    RateLimitConfig,
};

#[derive(Debug, Clone, Args)]
pub struct RateLimitArgs {
    /// Rate limits per subject / client IP (429 past them; `false`, `0`,
    /// `no` or `off` turns them off). Turn off only where a gateway limits
    /// already.
    #[arg(long = "rate-limit", env = "RATE_LIMIT_ENABLED",
        value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set,
        default_value = "true", hide_possible_values = true)]
    pub enabled: bool,
    /// Per client IP, for requests without a token.
    #[arg(long, env = "RATE_LIMIT_ANONYMOUS", default_value_t = DEFAULT_ANONYMOUS)]
    pub rate_limit_anonymous: Limit,
    #[arg(long, env = "RATE_LIMIT_CUSTOMER", default_value_t = DEFAULT_CUSTOMER)]
    pub rate_limit_customer: Limit,
    #[arg(long, env = "RATE_LIMIT_STAFF", default_value_t = DEFAULT_STAFF)]
    pub rate_limit_staff: Limit,
    #[arg(long, env = "RATE_LIMIT_FINANCE", default_value_t = DEFAULT_FINANCE)]
    pub rate_limit_finance: Limit,
    #[arg(long, env = "RATE_LIMIT_OPERATOR", default_value_t = DEFAULT_OPERATOR)]
    pub rate_limit_operator: Limit,
    /// Proxies in front that append to X-Forwarded-For (0: the header is
    /// ignored). Set only when clients reach the service through them alone.
    #[arg(long, env = "RATE_LIMIT_TRUSTED_PROXY_HOPS",
        default_value_t = RateLimitConfig::default().trusted_proxy_hops)]
    pub rate_limit_trusted_proxy_hops: usize,
}

impl RateLimitArgs {
    pub fn config(&self) -> RateLimitConfig {
        RateLimitConfig {
            enabled: self.enabled,
            anonymous: self.rate_limit_anonymous,
            customer: self.rate_limit_customer,
            staff: self.rate_limit_staff,
            finance: self.rate_limit_finance,
            operator: self.rate_limit_operator,
            trusted_proxy_hops: self.rate_limit_trusted_proxy_hops,
            ..RateLimitConfig::default()
        }
    }
}
