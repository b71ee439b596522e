//! Retry delays for long-lived Workload API callers.

use std::time::Duration;

/// The shape of a retry schedule: where it starts, how fast it grows and where it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The delay before the first retry.
    pub initial: Duration,
    /// The largest delay; growth stops here.
    pub max: Duration,
    /// The factor each failure multiplies the delay by (at least 1).
    pub multiplier: u32,
}

impl BackoffPolicy {
    /// SPEC-POLICY: from 200 ms, doubling, capped at 10 s.
    pub const DEFAULT: Self = Self {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(10),
        multiplier: 2,
    };

    /// For "no identity issued" (`PermissionDenied`): an agent usually needs seconds to mint
    /// a first SVID, so there is no point asking five times a second. From 1 s, doubling,
    /// capped at 30 s.
    pub const SLOW: Self = Self {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        multiplier: 2,
    };
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Exponential backoff with jitter.
///
/// The n-th delay is drawn uniformly from `[base / 2, base]`, where `base` is
/// `initial * multiplier^(n-1)` capped at `max`. Half of every delay is fixed, so the delays
/// still grow exponentially; the other half is random, so many clients restarted together do
/// not retry in step. Call [`reset`](Self::reset) once a message arrives.
///
/// ```
/// use std::time::Duration;
/// use spiffe_workload_api::Backoff;
///
/// let mut backoff = Backoff::default();
/// let first = backoff.next_delay();
/// assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    base: Duration,
    attempts: u32,
}

impl Backoff {
    /// A schedule following `policy`.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            base: policy.initial.min(policy.max),
            attempts: 0,
        }
    }

    /// The policy this schedule follows.
    pub fn policy(&self) -> BackoffPolicy {
        self.policy
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay to wait before the next attempt; each call grows the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base;
        self.base = base
            .saturating_mul(self.policy.multiplier.max(1))
            .min(self.policy.max);
        self.attempts = self.attempts.saturating_add(1);

        let half = base / 2;
        let spread = u64::try_from((base - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=spread))
    }

    /// Starts the schedule over, after a success.
    pub fn reset(&mut self) {
        self.base = self.policy.initial.min(self.policy.max);
        self.attempts = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(BackoffPolicy::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_within(delay: Duration, base: Duration) {
        assert!(
            delay >= base / 2 && delay <= base,
            "{delay:?} outside [{:?}, {base:?}]",
            base / 2
        );
    }

    #[test]
    fn default_backoff_doubles_from_200ms_and_caps_at_10s() {
        let mut backoff = Backoff::default();
        let bases = [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000];

        for base in bases {
            assert_within(backoff.next_delay(), Duration::from_millis(base));
        }
        assert_eq!(backoff.attempts(), 9);
    }

    #[test]
    fn reset_starts_the_schedule_over() {
        let mut backoff = Backoff::default();
        for _ in 0..6 {
            backoff.next_delay();
        }

        backoff.reset();

        assert_eq!(backoff.attempts(), 0);
        assert_within(backoff.next_delay(), Duration::from_millis(200));
    }

    #[test]
    fn delays_are_jittered() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            seen.insert(Backoff::default().next_delay());
        }
        assert!(seen.len() > 1, "20 first delays were all equal: {seen:?}");
    }

    #[test]
    fn configured_policy_is_followed_and_multiplier_zero_does_not_shrink() {
        let policy = BackoffPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(15),
            multiplier: 0,
        };
        let mut backoff = Backoff::new(policy);

        for _ in 0..3 {
            assert_within(backoff.next_delay(), Duration::from_millis(10));
        }
        assert_eq!(backoff.policy(), policy);
    }

    #[test]
    fn sixty_seconds_of_default_retries_take_about_ten_attempts() {
        // Scenario R4: an agent down for 60 s sees about ten dials, not hundreds.
        let mut backoff = Backoff::default();
        let mut elapsed = Duration::ZERO;
        let mut attempts = 0;
        while elapsed < Duration::from_secs(60) && attempts < 1000 {
            elapsed += backoff.next_delay();
            attempts += 1;
        }
        assert!((8..=20).contains(&attempts), "{attempts} attempts in 60 s");
    }
}
