//! A circuit breaker for calls to the provider: closed (calls pass) →
//! open after N consecutive failures (calls are refused at once, with the
//! time left) → half-open once the cool-down has passed (exactly one probe
//! call passes; the others are refused) → closed when the probe succeeds,
//! open again for another cool-down when it fails.
//!
//! Hand-written rather than taken from `failsafe` (1.3): its half-open
//! state lets every call through instead of one probe, and a refusal does
//! not say how long the breaker stays open, which callers need to park
//! their work (`ProviderError::CircuitOpen { retry_after }`). The state
//! machine takes the time as an argument, so it is tested without sleeps.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long it stays open before a probe may pass.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// What the breaker is doing, as metrics and callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub const ALL: [BreakerState; 3] = [Self::Closed, Self::Open, Self::HalfOpen];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl Inner {
    fn state(&self) -> BreakerState {
        match self {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// Called with the new state on every change (metrics, logs).
pub type OnTransition = Box<dyn Fn(BreakerState) + Send + Sync>;

/// The breaker; share it behind an `Arc`.
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
    on_transition: OnTransition,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("config", &self.config)
            .field("state", &self.state())
            .finish()
    }
}

/// Leave to make one call. Settle it with [`Permit::succeeded`] or
/// [`Permit::failed`]; dropped unsettled (the call was cancelled), it
/// counts as neither, and a probe's slot is freed for the next caller.
#[derive(Debug)]
#[must_use = "settle the permit with the call's outcome"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    settled: bool,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker::with_observer(config, Box::new(|_| {}))
    }

    /// A breaker that reports each change of state to `on_transition`.
    pub fn with_observer(config: BreakerConfig, on_transition: OnTransition) -> Breaker {
        let config = BreakerConfig {
            failure_threshold: config.failure_threshold.max(1),
            ..config
        };
        on_transition(BreakerState::Closed);
        Breaker {
            config,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            on_transition,
        }
    }

    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// The current state. An open breaker whose cool-down has passed still
    /// reads open until the next call takes the probe.
    pub fn state(&self) -> BreakerState {
        self.lock().state()
    }

    /// Leave to call now, or how long to wait before asking again.
    pub fn acquire(&self, now: Instant) -> Result<Permit<'_>, Duration> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Ok(self.permit(false)),
            Inner::Open { until } if now < until => Err(until - now),
            Inner::Open { .. } => {
                self.set(&mut inner, Inner::HalfOpen { probing: true });
                Ok(self.permit(true))
            }
            // One probe decides; the others wait as long as it may take
            // (at most a cool-down before the breaker is judged again).
            Inner::HalfOpen { probing: true } => Err(self.config.cool_down),
            Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                Ok(self.permit(true))
            }
        }
    }

    fn permit(&self, probe: bool) -> Permit<'_> {
        Permit {
            breaker: self,
            probe,
            settled: false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is a plain value, valid whatever a panicking holder did.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, inner: &mut Inner, next: Inner) {
        let changed = inner.state() != next.state();
        *inner = next;
        if changed {
            (self.on_transition)(next.state());
        }
    }

    fn record_success(&self, probe: bool) {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => self.set(&mut inner, Inner::Closed { failures: 0 }),
            Inner::HalfOpen { .. } if probe => self.set(&mut inner, Inner::Closed { failures: 0 }),
            // A call let through before the breaker opened tells nothing
            // about the provider now; the probe decides.
            Inner::HalfOpen { .. } | Inner::Open { .. } => {}
        }
    }

    fn record_failure(&self, probe: bool, now: Instant) {
        let mut inner = self.lock();
        let open = Inner::Open {
            until: now + self.config.cool_down,
        };
        match *inner {
            Inner::Closed { failures } if failures + 1 >= self.config.failure_threshold => {
                self.set(&mut inner, open)
            }
            Inner::Closed { failures } => {
                self.set(
                    &mut inner,
                    Inner::Closed {
                        failures: failures + 1,
                    },
                );
            }
            Inner::HalfOpen { .. } if probe => self.set(&mut inner, open),
            Inner::HalfOpen { .. } | Inner::Open { .. } => {}
        }
    }

    fn abandon(&self, probe: bool) {
        if !probe {
            return;
        }
        let mut inner = self.lock();
        if let Inner::HalfOpen { probing: true } = *inner {
            *inner = Inner::HalfOpen { probing: false };
        }
    }
}

impl Permit<'_> {
    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The call reached a healthy provider.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.breaker.record_success(self.probe);
    }

    /// The call failed at `now` (error answer, no answer, timeout).
    pub fn failed(mut self, now: Instant) {
        self.settled = true;
        self.breaker.record_failure(self.probe, now);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.abandon(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const COOL: Duration = Duration::from_secs(10);

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down: COOL,
        })
    }

    fn fail(b: &Breaker, now: Instant) {
        b.acquire(now).expect("closed").failed(now);
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let b = breaker();
        let t0 = Instant::now();
        fail(&b, t0);
        fail(&b, t0);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b, t0);
        assert_eq!(b.state(), BreakerState::Open);
        let wait = b.acquire(t0 + Duration::from_secs(4)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(6), "the cool-down left");
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = breaker();
        let t0 = Instant::now();
        fail(&b, t0);
        fail(&b, t0);
        b.acquire(t0).unwrap().succeeded();
        fail(&b, t0);
        fail(&b, t0);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn after_the_cool_down_one_probe_passes_and_its_success_closes() {
        let b = breaker();
        let t0 = Instant::now();
        (0..3).for_each(|_| fail(&b, t0));
        let later = t0 + COOL;
        let probe = b.acquire(later).expect("the probe");
        assert!(probe.is_probe());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.acquire(later).unwrap_err(), COOL, "one probe at a time");
        probe.succeeded();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!b.acquire(later).unwrap().is_probe());
    }

    #[test]
    fn a_failed_probe_opens_for_another_cool_down() {
        let b = breaker();
        let t0 = Instant::now();
        (0..3).for_each(|_| fail(&b, t0));
        let t1 = t0 + COOL + Duration::from_secs(1);
        b.acquire(t1).unwrap().failed(t1);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.acquire(t1).unwrap_err(), COOL);
        assert!(b.acquire(t1 + COOL).unwrap().is_probe());
    }

    #[test]
    fn an_abandoned_probe_frees_its_slot() {
        let b = breaker();
        let t0 = Instant::now();
        (0..3).for_each(|_| fail(&b, t0));
        drop(b.acquire(t0 + COOL).unwrap());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.acquire(t0 + COOL).unwrap().is_probe());
    }

    #[test]
    fn late_outcomes_of_calls_from_before_the_opening_do_not_decide() {
        let b = breaker();
        let t0 = Instant::now();
        let early = b.acquire(t0).unwrap();
        let early_fail = b.acquire(t0).unwrap();
        (0..3).for_each(|_| fail(&b, t0));
        early.succeeded();
        early_fail.failed(t0);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.acquire(t0).unwrap_err(), COOL, "not extended");
    }

    #[test]
    fn every_change_of_state_is_reported() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let b = Breaker::with_observer(
            BreakerConfig {
                failure_threshold: 1,
                cool_down: COOL,
            },
            Box::new(move |s| sink.lock().unwrap().push(s)),
        );
        let t0 = Instant::now();
        fail(&b, t0);
        b.acquire(t0 + COOL).unwrap().succeeded();
        use BreakerState::*;
        assert_eq!(*seen.lock().unwrap(), [Closed, Open, HalfOpen, Closed]);
    }

    #[test]
    fn a_zero_threshold_means_one() {
        let b = Breaker::new(BreakerConfig {
            failure_threshold: 0,
            cool_down: COOL,
        });
        let t0 = Instant::now();
        assert!(b.acquire(t0).is_ok());
        fail(&b, t0);
        assert_eq!(b.state(), BreakerState::Open);
    }
}
