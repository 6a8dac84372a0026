//! [`InFlight`]: a count of unfinished work that can be awaited to reach zero.
//!
//! Used for messages dispatched but not yet handled, and for outgoing
//! messages queued but not yet answered, so shutdown can drain both.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A counter of unfinished work.
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    pub(crate) fn begin(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn end(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
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
