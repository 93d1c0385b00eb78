//! Rate limits for both APIs, as an axum layer: a GCRA bucket per caller —
//! per subject when the request carries a [`Principal`], per client IP
//! otherwise — with limits per role ([`RateLimitConfig`]). A refusal is a
//! 429 problem with `Retry-After` and the IETF `RateLimit` fields; every
//! limited response carries those fields. `/healthz`, `/readyz` and
//! `/metrics` are never limited.
//!
//! The principal is read from the request's extensions, so an auth layer
//! that inserts it must run before this one (be added after it); with a
//! [`Verifier`] configured here, a bearer token is verified to find the
//! subject (an invalid token counts against its IP, and is refused by the
//! handler later). Limits are per process: see docs/scaling.md.

mod client;
mod config;
mod response;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;

pub use config::{
    DEFAULT_ANONYMOUS, DEFAULT_CUSTOMER, DEFAULT_EVICT_EVERY, DEFAULT_FINANCE, DEFAULT_OPERATOR,
    DEFAULT_STAFF, Limit, LimitParseError, RateLimitConfig,
};
pub use response::RATE_LIMITED_TYPE;

use crate::extract::bearer_token;
use crate::principal::{Principal, Role};
use crate::verifier::Verifier;

/// Paths probes and scrapers use: never limited, so a flood cannot make a
/// replica look unhealthy.
pub const UNLIMITED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

type Keyed<K> =
    governor::RateLimiter<K, DashMapStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// One limit and the buckets of the callers under it.
#[derive(Debug)]
struct Bucket<K: std::hash::Hash + Eq + Clone> {
    name: &'static str,
    limit: Limit,
    keys: Keyed<K>,
}

impl<K: std::hash::Hash + Eq + Clone> Bucket<K> {
    fn new(name: &'static str, limit: Limit) -> Self {
        Bucket {
            name,
            limit,
            keys: governor::RateLimiter::dashmap(limit.quota()).with_middleware(),
        }
    }

    /// `Ok(remaining, full again in)` or `Err(retry after)`.
    fn check(&self, key: &K) -> Result<(u32, Duration), Duration> {
        match self.keys.check_key(key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                // Full once the used cells, this one included, are back.
                let used = self.limit.burst.get().saturating_sub(remaining);
                Ok((remaining, self.limit.replenish_every * used))
            }
            Err(not_until) => Err(not_until.wait_time_from(self.keys.clock().now())),
        }
    }

    fn evict(&self) -> usize {
        self.keys.retain_recent();
        self.keys.shrink_to_fit();
        self.keys.len()
    }
}

/// Who a request is counted as.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    Subject {
        subject: String,
        role: Role,
    },
    Address(IpAddr),
    /// No principal and no address (a router served without connection
    /// info): one shared bucket, so the limit still holds.
    Unknown,
}

/// The limiter shared by every request of one service.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    verifier: Option<Arc<Verifier>>,
    anonymous: Bucket<Option<IpAddr>>,
    roles: [Bucket<String>; 4],
    started: Instant,
    /// Milliseconds after `started` when idle keys are next dropped.
    next_eviction_ms: AtomicU64,
}

impl RateLimiter {
    /// `None` when `config` turns limits off.
    pub fn new(config: &RateLimitConfig) -> Option<Arc<RateLimiter>> {
        config.enabled.then(|| {
            // Every policy's series from the start, at zero, so a rate over
            // it (an alert, a dashboard) has something to compute on.
            for policy in std::iter::once("anonymous").chain(Role::ALL.map(|r| r.as_str())) {
                metrics::counter!("orderflow_rate_limited_total", "policy" => policy).increment(0);
            }
            Arc::new(RateLimiter {
                anonymous: Bucket::new("anonymous", config.anonymous),
                roles: Role::ALL.map(|r| Bucket::new(r.as_str(), config.for_role(r))),
                config: config.clone(),
                verifier: None,
                started: Instant::now(),
                next_eviction_ms: AtomicU64::new(duration_ms(config.evict_every)),
            })
        })
    }

    /// Also keys requests by the subject of a valid bearer token when no
    /// earlier layer put a [`Principal`] into the request.
    pub fn with_verifier(config: &RateLimitConfig, verifier: Arc<Verifier>) -> Option<Arc<Self>> {
        let limiter = RateLimiter::new(config)?;
        let mut limiter = Arc::into_inner(limiter)?;
        limiter.verifier = Some(verifier);
        Some(Arc::new(limiter))
    }

    /// `router` behind this limiter.
    pub fn wrap(self: &Arc<Self>, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(
            Arc::clone(self),
            enforce,
        ))
    }

    /// Callers currently remembered, all limits together (for tests and
    /// the `orderflow_rate_limit_keys` gauge).
    pub fn tracked_keys(&self) -> usize {
        self.anonymous.keys.len() + self.roles.iter().map(|b| b.keys.len()).sum::<usize>()
    }

    /// Drops every caller whose bucket is full again; returns how many
    /// remain. Runs by itself every `evict_every`.
    pub fn evict_idle(&self) -> usize {
        let left = self.anonymous.evict() + self.roles.iter().map(Bucket::evict).sum::<usize>();
        metrics::gauge!("orderflow_rate_limit_keys").set(left as f64);
        left
    }

    /// On the request path, at most once per interval, by whichever request
    /// finds it due: no background task to start or stop.
    fn evict_if_due(&self) {
        let now = duration_ms(self.started.elapsed());
        let due = self.next_eviction_ms.load(Ordering::Relaxed);
        if now < due {
            return;
        }
        let next = now + duration_ms(self.config.evict_every).max(1);
        if self
            .next_eviction_ms
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.evict_idle();
        }
    }

    async fn caller(&self, request: &mut Request) -> Caller {
        if let Some(p) = request.extensions().get::<Principal>() {
            return self.subject_caller(p);
        }
        if let Some(verifier) = &self.verifier {
            let (parts, body) = std::mem::take(request).into_parts();
            let principal = match bearer_token(&parts) {
                Ok(Some(token)) => verifier.verify(token).await.ok(),
                _ => None,
            };
            *request = Request::from_parts(parts, body);
            if let Some(p) = principal {
                return self.subject_caller(&p);
            }
        }
        let peer = request
            .extensions()
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        match client::client_ip(peer, request.headers(), self.config.trusted_proxy_hops) {
            Some(ip) => Caller::Address(ip),
            None => Caller::Unknown,
        }
    }

    /// The most generous limit among the principal's roles (fastest refill,
    /// then largest burst); a principal
    /// without an orderflow role gets the customer limit.
    fn subject_caller(&self, p: &Principal) -> Caller {
        let role = p
            .roles
            .iter()
            .copied()
            .min_by_key(|r| {
                let l = self.config.for_role(*r);
                (l.replenish_every, std::cmp::Reverse(l.burst))
            })
            .unwrap_or(Role::Customer);
        Caller::Subject {
            subject: p.subject.clone(),
            role,
        }
    }

    fn bucket_of(&self, role: Role) -> &Bucket<String> {
        // `roles` is built from `Role::ALL`, in that order.
        let index = Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
        &self.roles[index]
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn enforce(
    State(limiter): State<Arc<RateLimiter>>,
    mut request: Request,
    next: Next,
) -> Response {
    if UNLIMITED_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    limiter.evict_if_due();
    let caller = limiter.caller(&mut request).await;
    let (name, limit, outcome) = match &caller {
        Caller::Subject { subject, role } => {
            let b = limiter.bucket_of(*role);
            (b.name, b.limit, b.check(subject))
        }
        Caller::Address(ip) => {
            let b = &limiter.anonymous;
            (b.name, b.limit, b.check(&Some(*ip)))
        }
        Caller::Unknown => {
            let b = &limiter.anonymous;
            (b.name, b.limit, b.check(&None))
        }
    };
    match outcome {
        Ok((remaining, reset)) => {
            let mut response = next.run(request).await;
            response::add_headers(response.headers_mut(), name, &limit, remaining, reset);
            response
        }
        Err(retry_after) => {
            metrics::counter!("orderflow_rate_limited_total", "policy" => name).increment(1);
            response::too_many_requests(name, &limit, retry_after)
        }
    }
}
