//! [`GroupCommit`]: many callers' small writes in one transaction.
//!
//! A background task takes the first write that arrives and every other one
//! already waiting (up to a batch limit), commits them together and tells
//! each caller the result. Nothing waits on a timer: while one transaction
//! is being made durable the next writes queue up, so the delay a write sees
//! is bounded by one commit, and under load one fsync covers many writes.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Writes waiting for the committer; senders wait when it is this far behind.
const QUEUE: usize = 4096;

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// A handle to a background committer of `Op`s.
#[derive(Debug)]
pub(crate) struct GroupCommit<Op> {
    tx: mpsc::Sender<(Op, Waiter)>,
}

impl<Op: Send + 'static> GroupCommit<Op> {
    /// Starts the committer on the current tokio runtime: `commit` writes a
    /// batch of at most `max_batch` ops in one transaction.
    pub(crate) fn spawn<F, Fut>(max_batch: usize, mut commit: F) -> Self
    where
        F: FnMut(Vec<Op>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), StoreError>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(Op, Waiter)>(QUEUE);
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut buf, max_batch).await > 0 {
                let (ops, waiters): (Vec<Op>, Vec<Waiter>) = buf.drain(..).unzip();
                let result = commit(ops).await;
                for waiter in waiters {
                    // A caller that stopped waiting does not need the answer.
                    let _ = waiter.send(result.clone());
                }
            }
        });
        Self { tx }
    }

    /// Queues `op` and waits until the transaction holding it is committed.
    pub(crate) async fn submit(&self, op: Op) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        self.tx
            .send((op, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        result.await.unwrap_or(Err(StoreError::Closed))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test]
    async fn writes_waiting_together_share_one_commit() {
        let batches: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let committer = {
            let (batches, gate) = (batches.clone(), gate.clone());
            Arc::new(GroupCommit::spawn(3, move |ops: Vec<u32>| {
                let (batches, gate) = (batches.clone(), gate.clone());
                async move {
                    // Held until the test has queued everything.
                    gate.acquire().await.map(|p| p.forget()).ok();
                    batches.lock().unwrap().push(ops);
                    Ok(())
                }
            }))
        };
        let mut calls = Vec::new();
        for op in 0..5 {
            let c = committer.clone();
            calls.push(tokio::spawn(async move { c.submit(op).await }));
            tokio::task::yield_now().await;
        }
        gate.add_permits(10);
        for call in calls {
            call.await.unwrap().unwrap();
        }
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches.concat().len(), 5, "{batches:?}");
        assert!(batches.iter().all(|b| b.len() <= 3), "{batches:?}");
        assert!(
            batches.len() < 5,
            "some writes shared a commit: {batches:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_write_in_it() {
        let committer = GroupCommit::spawn(8, |_ops: Vec<u32>| async {
            Err(StoreError::Full { path: "db".into() })
        });
        let err = committer.submit(1).await.unwrap_err();
        assert!(matches!(err, StoreError::Full { .. }), "{err}");
    }
}
