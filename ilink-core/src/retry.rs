//! [`Backoff`]: the one retry policy of the workspace.
//!
//! Every retry loop (sends, polls, CDN transfers, typing tickets, account
//! restarts) waits by the same rule: an initial delay multiplied by a factor
//! per retry, capped, for a bounded or unbounded number of retries, with
//! jitter so that many accounts failing together do not retry in lockstep.
//!
//! ```
//! use std::time::Duration;
//! use ilink_core::retry::{Backoff, Jitter};
//!
//! let policy = Backoff::new(Duration::from_millis(500))
//!     .max_delay(Duration::from_secs(4))
//!     .max_retries(3);
//! assert_eq!(policy.base_delay(1), Duration::from_millis(500));
//! assert_eq!(policy.base_delay(3), Duration::from_secs(2));
//! assert!(policy.delay(4).is_none(), "only three retries");
//! // Equal jitter (the default) keeps at least half of the base delay.
//! let d = policy.delay(2).unwrap();
//! assert!(d >= Duration::from_millis(500) && d <= Duration::from_secs(1));
//! assert_eq!(policy.jitter(Jitter::None).delay(2), Some(Duration::from_secs(1)));
//! ```

use std::time::Duration;

use rand::Rng as _;

/// How a delay is randomised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// The base delay exactly (for tests and single clients).
    None,
    /// Uniform in `[0, base]`: spreads retries most, may retry at once.
    Full,
    /// Uniform in `[base / 2, base]`: spreads retries, keeps a floor.
    Equal,
}

/// An exponential backoff: when to retry, and whether to at all.
///
/// Retries are counted from 1 (the first retry, after the first failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    factor: u32,
    max: Duration,
    max_retries: Option<u32>,
    jitter: Jitter,
}

impl Backoff {
    /// Starts at `initial`, doubles per retry, is capped at one hour, retries
    /// without end, with [`Jitter::Equal`].
    pub const fn new(initial: Duration) -> Self {
        Self {
            initial,
            factor: 2,
            max: Duration::from_secs(3600),
            max_retries: None,
            jitter: Jitter::Equal,
        }
    }

    /// Multiplies the delay by `factor` per retry (1 keeps it constant).
    pub const fn factor(mut self, factor: u32) -> Self {
        self.factor = factor;
        self
    }

    /// Caps the delay (before jitter).
    pub const fn max_delay(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Allows at most `n` retries (`0`: fail on the first error).
    pub const fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }

    /// Sets how delays are randomised.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Whether retry number `retry` is allowed.
    pub fn allows(&self, retry: u32) -> bool {
        self.max_retries.is_none_or(|max| retry <= max)
    }

    /// The delay before retry number `retry`, before jitter:
    /// `initial × factor^(retry − 1)`, capped.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1);
        self.initial
            .saturating_mul(self.factor.saturating_pow(exponent))
            .min(self.max)
    }

    /// The delay before retry number `retry`, or `None` once the retries are
    /// spent.
    pub fn delay(&self, retry: u32) -> Option<Duration> {
        self.delay_with(retry, rand::rng().random::<f64>())
    }

    /// [`Backoff::delay`] with the random draw given: `unit` in `[0, 1]`
    /// picks the point in the jitter's range (deterministic for tests).
    pub fn delay_with(&self, retry: u32, unit: f64) -> Option<Duration> {
        if !self.allows(retry) {
            return None;
        }
        let base = self.base_delay(retry);
        let unit = unit.clamp(0.0, 1.0);
        Some(match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(unit),
            Jitter::Equal => base / 2 + (base - base / 2).mul_f64(unit),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let b = Backoff::new(100 * MS)
            .factor(3)
            .max_delay(1000 * MS)
            .jitter(Jitter::None);
        let delays: Vec<_> = (1..=5).map(|r| b.delay(r).unwrap()).collect();
        assert_eq!(delays, [100 * MS, 300 * MS, 900 * MS, 1000 * MS, 1000 * MS]);
    }

    #[test]
    fn retries_stop_after_the_limit() {
        let b = Backoff::new(MS).max_retries(2);
        assert!(b.delay(1).is_some());
        assert!(b.delay(2).is_some());
        assert!(b.delay(3).is_none());
        assert!(!Backoff::new(MS).max_retries(0).allows(1));
        assert!(Backoff::new(MS).allows(u32::MAX), "unbounded by default");
    }

    #[test]
    fn jitter_ends_are_the_range_ends() {
        let b = Backoff::new(800 * MS);
        assert_eq!(b.delay_with(1, 0.0), Some(400 * MS));
        assert_eq!(b.delay_with(1, 1.0), Some(800 * MS));
        let full = b.jitter(Jitter::Full);
        assert_eq!(full.delay_with(1, 0.0), Some(Duration::ZERO));
        assert_eq!(full.delay_with(1, 0.25), Some(200 * MS));
    }

    #[test]
    fn huge_retry_counts_saturate_at_the_cap() {
        let b = Backoff::new(Duration::from_secs(1)).max_delay(Duration::from_secs(30));
        assert_eq!(b.base_delay(u32::MAX), Duration::from_secs(30));
        assert_eq!(b.base_delay(0), Duration::from_secs(1));
    }

    proptest! {
        #[test]
        fn jittered_delays_stay_within_their_range(
            initial_ms in 0u32..10_000,
            factor in 1u32..5,
            max_ms in 0u32..100_000,
            retry in 1u32..64,
            unit in 0.0f64..=1.0,
        ) {
            let b = Backoff::new(initial_ms * MS).factor(factor).max_delay(max_ms * MS);
            let base = b.base_delay(retry);
            prop_assert!(base <= max_ms * MS);
            let equal = b.delay_with(retry, unit).unwrap();
            prop_assert!(equal >= base / 2 && equal <= base);
            let full = b.jitter(Jitter::Full).delay_with(retry, unit).unwrap();
            prop_assert!(full <= base);
        }

        #[test]
        fn random_delays_stay_within_their_range(retry in 1u32..20) {
            let b = Backoff::new(Duration::from_secs(1)).max_delay(Duration::from_secs(60));
            let base = b.base_delay(retry);
            let d = b.delay(retry).unwrap();
            prop_assert!(d >= base / 2 && d <= base);
        }
    }
}
