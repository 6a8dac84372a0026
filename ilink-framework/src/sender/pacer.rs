//! [`Pacer`]: per-user pacing of sends.
//!
//! About three sends within a second to one user draw a throttle on the real
//! server, so sends to one user are paced to `pacing_burst` per
//! `pacing_window`: a send over the pace waits, it is never dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Sliding-window pacing of sends to one user: at most `burst` sends per
/// `window`, each counted from when it was answered.
///
/// The runtime paces every send with one per user; tools that send outside
/// a bot (`ilink send`) use it the same way:
///
/// ```
/// use std::time::{Duration, Instant};
/// use ilink_framework::Pacer;
///
/// let mut pacer = Pacer::new(2, Duration::from_millis(1100));
/// for _ in 0..3 {
///     let wait = pacer.delay(Instant::now());
///     // sleep `wait`, send, then:
///     pacer.record(Instant::now());
///     # let _ = wait;
/// }
/// assert!(pacer.delay(Instant::now()) > Duration::ZERO, "the third send is over the pace");
/// ```
#[derive(Debug)]
pub struct Pacer {
    burst: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl Pacer {
    /// At most `burst` (at least 1) sends per `window`.
    pub fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst: burst.max(1) as usize,
            window,
            recent: VecDeque::new(),
        }
    }

    /// How long to wait, at `now`, before the next send is within the pace.
    pub fn delay(&mut self, now: Instant) -> Duration {
        while let Some(t) = self.recent.front() {
            if now.duration_since(*t) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() < self.burst {
            return Duration::ZERO;
        }
        let oldest = self.recent[self.recent.len() - self.burst];
        (oldest + self.window).saturating_duration_since(now)
    }

    /// How long from `now` until no recorded send is within the window, so
    /// that a fresh pacer would pace the same.
    pub(crate) fn until_idle(&self, now: Instant) -> Duration {
        self.recent.back().map_or(Duration::ZERO, |last| {
            (*last + self.window).saturating_duration_since(now)
        })
    }

    /// Records a send at `at`.
    pub fn record(&mut self, at: Instant) {
        self.recent.push_back(at);
        while self.recent.len() > self.burst {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_waits_for_the_window() {
        let mut p = Pacer::new(2, Duration::from_millis(1000));
        let t0 = Instant::now();
        assert_eq!(p.delay(t0), Duration::ZERO);
        p.record(t0);
        assert_eq!(p.delay(t0), Duration::ZERO);
        p.record(t0 + Duration::from_millis(100));
        assert_eq!(
            p.delay(t0 + Duration::from_millis(200)),
            Duration::from_millis(800)
        );
        assert_eq!(p.delay(t0 + Duration::from_millis(1000)), Duration::ZERO);
    }

    #[test]
    fn pacer_is_idle_once_its_last_send_leaves_the_window() {
        let mut p = Pacer::new(2, Duration::from_millis(1000));
        let t0 = Instant::now();
        assert_eq!(p.until_idle(t0), Duration::ZERO);
        p.record(t0);
        p.record(t0 + Duration::from_millis(300));
        assert_eq!(
            p.until_idle(t0 + Duration::from_millis(500)),
            Duration::from_millis(800)
        );
        assert_eq!(
            p.until_idle(t0 + Duration::from_millis(1300)),
            Duration::ZERO
        );
    }
}
