//! Per-user command cooldowns.
//!
//! [`Cooldowns`] remembers, for each (command, user), until when the command
//! is cooling down. The clock is a parameter so that tests move time
//! forward with a [`ManualClock`] instead of sleeping.
//!

use std::collections::HashMap;
#[cfg(test)]
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::error::CommandError;
use super::spec::CommandSpec;

/// A source of the current time.
pub(crate) trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to; clones share the same time.
#[cfg(test)]
#[derive(Debug, Clone)]
pub(crate) struct ManualClock {
    now: Arc<Mutex<Instant>>,
}

#[cfg(test)]
impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
impl ManualClock {
    /// A clock stopped at the current instant.
    pub(crate) fn new() -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Moves the time forward.
    pub(crate) fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Cooldown state of every (command, user) pair.
///
/// Expired entries are dropped from time to time, so memory is bounded by
/// the number of pairs cooling down at once, not by every user ever seen.
#[derive(Debug)]
pub(crate) struct Cooldowns {
    clock: Box<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// (command, user) → end of the cooldown.
    until: HashMap<(String, String), Instant>,
    /// Prune when the map grows past this; doubles so pruning stays
    /// amortized O(1) per insert.
    prune_at: usize,
}

impl Cooldowns {
    /// Cooldowns on `clock`.
    pub(crate) fn with_clock(clock: impl Clock + 'static) -> Self {
        Cooldowns {
            clock: Box::new(clock),
            state: Mutex::new(State {
                until: HashMap::new(),
                prune_at: 64,
            }),
        }
    }

    #[cfg(test)]
    /// How long `user` must still wait before using `command`, or `None`.
    pub(crate) fn remaining(&self, command: &str, user: &str) -> Option<Duration> {
        let now = self.clock.now();
        let state = self.lock();
        let until = *state.until.get(&(command.to_owned(), user.to_owned()))?;
        Some(until.saturating_duration_since(now)).filter(|d| !d.is_zero())
    }

    /// If `user` may use `command` now, starts a cooldown of `duration` and
    /// returns `Ok`; otherwise returns the time left, without changing
    /// anything. Checking and starting happen under one lock, so two
    /// messages arriving together cannot both pass.
    pub(crate) fn try_start(
        &self,
        command: &str,
        user: &str,
        duration: Duration,
    ) -> Result<(), Duration> {
        let now = self.clock.now();
        let mut state = self.lock();
        let key = (command.to_owned(), user.to_owned());
        if let Some(until) = state.until.get(&key) {
            let left = until.saturating_duration_since(now);
            if !left.is_zero() {
                return Err(left);
            }
        }
        if duration.is_zero() {
            return Ok(());
        }
        if state.until.len() >= state.prune_at {
            state.until.retain(|_, until| *until > now);
            state.prune_at = (state.until.len() * 2).max(64);
        }
        // An instant too far in the future to represent (`Duration::MAX`):
        // a century is forever enough.
        let until = now
            .checked_add(duration)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
            .unwrap_or(now);
        state.until.insert(key, until);
        Ok(())
    }

    /// [`try_start`](Self::try_start) with the spec's cooldown, as a
    /// [`CommandError::Cooldown`] when the user must wait. A command without
    /// a cooldown always passes.
    pub(crate) fn check(&self, spec: &CommandSpec, user: &str) -> Result<(), CommandError> {
        let Some(duration) = spec.cooldown else {
            return Ok(());
        };
        self.try_start(&spec.name, user, duration)
            .map_err(|remaining| CommandError::Cooldown {
                command: spec.name.as_str().into(),
                remaining,
            })
    }

    #[cfg(test)]
    /// Ends the cooldown of `user` for `command`.
    pub(crate) fn reset(&self, command: &str, user: &str) {
        self.lock()
            .until
            .remove(&(command.to_owned(), user.to_owned()));
    }

    #[cfg(test)]
    /// Number of pairs tracked (some may have expired since the last prune).
    pub(crate) fn len(&self) -> usize {
        self.lock().until.len()
    }

    #[cfg(test)]
    /// Whether no pair is tracked.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent across a panic elsewhere: every update
        // is a single map operation.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn setup() -> (ManualClock, Cooldowns) {
        let clock = ManualClock::new();
        (clock.clone(), Cooldowns::with_clock(clock))
    }

    #[test]
    fn waits_until_the_cooldown_ends() {
        let (clock, cd) = setup();
        assert_eq!(cd.try_start("roll", "u1", 10 * SEC), Ok(()));
        assert_eq!(cd.try_start("roll", "u1", 10 * SEC), Err(10 * SEC));
        clock.advance(4 * SEC);
        assert_eq!(cd.remaining("roll", "u1"), Some(6 * SEC));
        assert_eq!(cd.try_start("roll", "u1", 10 * SEC), Err(6 * SEC));
        clock.advance(6 * SEC);
        assert_eq!(cd.remaining("roll", "u1"), None);
        assert_eq!(cd.try_start("roll", "u1", 10 * SEC), Ok(()));
    }

    #[test]
    fn a_refused_attempt_does_not_extend_the_cooldown() {
        let (clock, cd) = setup();
        cd.try_start("roll", "u1", 10 * SEC).unwrap();
        clock.advance(9 * SEC);
        assert!(cd.try_start("roll", "u1", 10 * SEC).is_err());
        clock.advance(SEC);
        assert!(cd.try_start("roll", "u1", 10 * SEC).is_ok());
    }

    #[test]
    fn users_and_commands_are_independent() {
        let (_, cd) = setup();
        cd.try_start("roll", "u1", 10 * SEC).unwrap();
        assert!(cd.try_start("roll", "u2", 10 * SEC).is_ok());
        assert!(cd.try_start("flip", "u1", 10 * SEC).is_ok());
        assert_eq!(cd.remaining("flip", "u3"), None);
    }

    #[test]
    fn reset_ends_a_cooldown() {
        let (_, cd) = setup();
        cd.try_start("roll", "u1", 10 * SEC).unwrap();
        cd.reset("roll", "u1");
        assert!(cd.try_start("roll", "u1", 10 * SEC).is_ok());
    }

    #[test]
    fn zero_and_huge_durations() {
        let (_, cd) = setup();
        assert!(cd.try_start("a", "u", Duration::ZERO).is_ok());
        assert!(cd.try_start("a", "u", Duration::ZERO).is_ok());
        assert!(cd.is_empty());
        assert!(cd.try_start("b", "u", Duration::MAX).is_ok());
        assert!(cd.try_start("b", "u", SEC).is_err());
    }

    #[test]
    fn check_uses_the_spec() {
        let (clock, cd) = setup();
        let spec = CommandSpec::new("roll").cooldown(5 * SEC);
        assert_eq!(cd.check(&spec, "u1"), Ok(()));
        clock.advance(SEC);
        assert_eq!(
            cd.check(&spec, "u1"),
            Err(CommandError::Cooldown {
                command: "roll".into(),
                remaining: 4 * SEC
            })
        );
        let free = CommandSpec::new("ping");
        assert!(cd.check(&free, "u1").is_ok() && cd.check(&free, "u1").is_ok());
    }

    #[test]
    fn expired_entries_are_pruned() {
        let (clock, cd) = setup();
        for i in 0..1000 {
            cd.try_start("roll", &format!("user{i}"), SEC).unwrap();
            clock.advance(SEC);
        }
        assert!(cd.len() <= 128, "{} entries kept", cd.len());
    }

    #[test]
    fn system_clock_works() {
        let cd = Cooldowns::with_clock(SystemClock);
        assert!(cd.try_start("a", "u", Duration::from_secs(60)).is_ok());
        assert!(cd.remaining("a", "u").is_some());
    }
}
