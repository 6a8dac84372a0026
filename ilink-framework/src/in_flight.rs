//! [`InFlight`]: a count of unfinished work that can be awaited to reach zero.
//!
//! Used for messages dispatched but not yet handled, and for outgoing
//! messages queued but not yet answered, so shutdown can drain both. An
//! observer may be told each new count (the inbox depth gauge is one).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Told the count after each change.
type Observer = Box<dyn Fn(usize) + Send + Sync>;

/// One item counted in an [`InFlight`] until dropped.
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A counter of unfinished work.
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
    observer: Option<Observer>,
}

impl InFlight {
    /// A counter that tells `observer` each new count.
    pub(crate) fn observed(observer: impl Fn(usize) + Send + Sync + 'static) -> Self {
        Self {
            observer: Some(Box::new(observer)),
            ..Self::default()
        }
    }

    pub(crate) fn begin(&self) {
        let now = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        self.observe(now);
    }

    pub(crate) fn end(&self) {
        let before = self.count.fetch_sub(1, Ordering::SeqCst);
        self.observe(before - 1);
        if before == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Counts one item in flight until the guard is dropped.
    pub(crate) fn hold(self: &Arc<Self>) -> InFlightGuard {
        self.begin();
        InFlightGuard(self.clone())
    }

    fn observe(&self, count: usize) {
        if let Some(observer) = &self.observer {
            observer(count);
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until nothing is in flight.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_idle_returns_when_the_last_item_ends() {
        let f = Arc::new(InFlight::default());
        f.begin();
        f.begin();
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.wait_idle().await }
        });
        f.end();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        f.end();
        waiter.await.unwrap();
        assert_eq!(f.count(), 0);
    }

    #[tokio::test]
    async fn a_held_item_counts_until_its_guard_is_dropped_even_by_a_panicking_task() {
        let f = Arc::new(InFlight::default());
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let waiting = f.hold();
        tokio::spawn(async move {
            let _waiting = waiting;
            let _ = wait.await;
        });
        let failing = f.hold();
        tokio::spawn(async move {
            let _failing = failing;
            panic!("a store write's task failed");
        });
        assert!(f.count() >= 1);
        go.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), f.wait_idle())
            .await
            .expect("the count came back to zero");
    }
}
