//! How much each kind of caller may send: the limits, their defaults (one
//! place) and the text form the environment uses (`100/s burst 1000`).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;

use crate::principal::Role;

/// One limit: bursts of up to `burst` requests, refilled at one request per
/// `replenish_every` (GCRA, i.e. a token bucket without a timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub burst: NonZeroU32,
    pub replenish_every: Duration,
}

/// `n` as a `NonZeroU32`, for constants (`n` is never 0 where used).
const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(v) => v,
        None => NonZeroU32::MIN,
    }
}

impl Limit {
    /// `rate` requests per second, bursts of `burst`.
    pub const fn per_second(rate: u32, burst: u32) -> Limit {
        Limit {
            burst: nz(burst),
            replenish_every: Duration::from_nanos(1_000_000_000 / nz(rate).get() as u64),
        }
    }

    pub(crate) fn quota(&self) -> Quota {
        // `replenish_every` is never zero: `FromStr` and `per_second`
        // cannot produce it, and a hand-built zero falls back to 1 ns.
        Quota::with_period(self.replenish_every.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(self.burst)
    }

    /// Seconds an emptied bucket takes to fill again: the policy's window.
    pub fn window(&self) -> Duration {
        self.replenish_every * self.burst.get()
    }
}

/// Why a limit's text is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a rate limit; write `<requests>/<s|m|h>` with an optional \
     ` burst <requests>`, e.g. `100/s burst 1000`"
)]
pub struct LimitParseError(pub String);

impl FromStr for Limit {
    type Err = LimitParseError;

    /// `600/m` (bursts of 600), `100/s burst 1000`.
    fn from_str(text: &str) -> Result<Limit, LimitParseError> {
        let bad = || LimitParseError(text.to_owned());
        let mut words = text.split_whitespace();
        let (count, unit) = words
            .next()
            .and_then(|w| w.split_once('/'))
            .ok_or_else(bad)?;
        let count: u32 = count.parse().map_err(|_| bad())?;
        let count = NonZeroU32::new(count).ok_or_else(bad)?;
        let period = match unit {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let burst = match (words.next(), words.next(), words.next()) {
            (None, _, _) => count,
            (Some("burst"), Some(b), None) => {
                NonZeroU32::new(b.parse().map_err(|_| bad())?).ok_or_else(bad)?
            }
            _ => return Err(bad()),
        };
        let replenish_every = period / count.get();
        if replenish_every.is_zero() {
            return Err(bad());
        }
        Ok(Limit {
            burst,
            replenish_every,
        })
    }
}

/// The form `FromStr` reads, in the smallest unit that states the rate
/// exactly (a rate no unit states exactly is rounded to requests per hour).
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let every = self.replenish_every.as_nanos().max(1);
        let units = [("s", 1u128), ("m", 60), ("h", 3600)];
        let exact = units.iter().find_map(|(unit, secs)| {
            let period = secs * 1_000_000_000;
            (period % every == 0).then(|| (period / every, *unit))
        });
        let (count, unit) = exact.unwrap_or(((3_600_000_000_000 / every).max(1), "h"));
        write!(f, "{count}/{unit} burst {}", self.burst)
    }
}

/// Every limit, and how clients are told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Off only where the gateway already limits (or in benchmarks).
    pub enabled: bool,
    /// Per client IP, for requests without a principal. Until every route
    /// needs a token this is the limit all callers get.
    pub anonymous: Limit,
    pub customer: Limit,
    pub staff: Limit,
    pub finance: Limit,
    pub operator: Limit,
    /// Proxies in front of this service that append to `X-Forwarded-For`.
    /// 0: the header is ignored and the peer address is the client. N: the
    /// client is the N-th address from the right, the one the outermost
    /// trusted proxy saw. Only set it when the service is reachable through
    /// those proxies alone, or any client can pick its own key.
    pub trusted_proxy_hops: usize,
    /// How often keys idle long enough to be back at a full bucket are
    /// dropped, which bounds memory to the clients of about one window.
    pub evict_every: Duration,
}

/// Defaults: generous, per replica. A customer's app rarely sends more than
/// a few requests a second; staff tools and integrations more.
pub const DEFAULT_ANONYMOUS: Limit = Limit::per_second(100, 1000);
pub const DEFAULT_CUSTOMER: Limit = Limit::per_second(20, 200);
pub const DEFAULT_STAFF: Limit = Limit::per_second(100, 1000);
pub const DEFAULT_FINANCE: Limit = Limit::per_second(100, 1000);
pub const DEFAULT_OPERATOR: Limit = Limit::per_second(200, 2000);
pub const DEFAULT_EVICT_EVERY: Duration = Duration::from_secs(30);

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            anonymous: DEFAULT_ANONYMOUS,
            customer: DEFAULT_CUSTOMER,
            staff: DEFAULT_STAFF,
            finance: DEFAULT_FINANCE,
            operator: DEFAULT_OPERATOR,
            trusted_proxy_hops: 0,
            evict_every: DEFAULT_EVICT_EVERY,
        }
    }
}

impl RateLimitConfig {
    /// No limits at all (benchmarks, a gateway that limits already).
    pub fn disabled() -> Self {
        RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        }
    }

    /// Every role and anonymous callers with the same `limit` (tests).
    pub fn uniform(limit: Limit) -> Self {
        RateLimitConfig {
            anonymous: limit,
            customer: limit,
            staff: limit,
            finance: limit,
            operator: limit,
            ..RateLimitConfig::default()
        }
    }

    pub fn for_role(&self, role: Role) -> Limit {
        match role {
            Role::Customer => self.customer,
            Role::Staff => self.staff,
            Role::Finance => self.finance,
            Role::Operator => self.operator,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_from_the_environment_form() {
        let l: Limit = "600/m".parse().unwrap();
        assert_eq!(l.burst.get(), 600);
        assert_eq!(l.replenish_every, Duration::from_millis(100));
        assert_eq!(l.window(), Duration::from_secs(60));
        let l: Limit = "100/s burst 1000".parse().unwrap();
        assert_eq!(l, Limit::per_second(100, 1000));
        assert_eq!(l.to_string(), "100/s burst 1000");
        let l: Limit = "90/h burst 5".parse().unwrap();
        assert_eq!(l.to_string().parse::<Limit>().unwrap(), l);
        assert_eq!(
            "600/m".parse::<Limit>().unwrap().to_string(),
            "10/s burst 600"
        );
        for bad in [
            "",
            "100",
            "0/s",
            "10/d",
            "10/s burst",
            "10/s burst 0",
            "10/s x 3",
        ] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_role_has_a_limit() {
        let c = RateLimitConfig::default();
        assert!(c.enabled);
        for role in Role::ALL {
            assert!(c.for_role(role).burst.get() >= 100);
        }
    }
}
