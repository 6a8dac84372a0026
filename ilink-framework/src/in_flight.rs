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

    /// Runs `work` on a task of its own, counted in flight until it ends
    /// (or panics, or is aborted: the count must not stay up and hold a
    /// shutdown's drain until its deadline).
    pub(crate) fn spawn(self: &Arc<Self>, work: impl Future<Output = ()> + Send + 'static) {
        struct Ending(Arc<InFlight>);
        impl Drop for Ending {
            fn drop(&mut self) {
                self.0.end();
            }
        }
        self.begin();
        let ending = Ending(self.clone());
        tokio::spawn(async move {
            let _ending = ending;
            work.await;
        });
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
    async fn spawned_work_counts_until_it_ends_even_by_panicking() {
        let f = Arc::new(InFlight::default());
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        f.spawn(async move {
            let _ = wait.await;
        });
        f.spawn(async { panic!("a store write's task failed") });
        assert!(f.count() >= 1);
        go.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), f.wait_idle())
            .await
            .expect("the count came back to zero");
    }
}
