//! [`InFlight`]: a count of unfinished work that can be awaited to reach zero.
//!
//! Used for messages dispatched but not yet handled, and for outgoing
//! messages queued but not yet answered, so shutdown can drain both. An
//! observer may be told each new count (the inbox depth gauge is one).

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Told the count after each change.
type Observer = Box<dyn Fn(usize) + Send + Sync>;

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
    use std::sync::Arc;

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
}
