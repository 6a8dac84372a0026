//! The queue between the store's callers and its writer thread.
//!
//! A wake-up of another thread costs a system call on each side and a
//! context switch, several times what SQLite takes to write one row. So
//! while the writer gathers a group of deferred writes it is not woken for
//! each one: only for a job that must not wait (a received batch, a direct
//! job, a close) or a full group. A caller waits only when the writer is
//! far behind (a bounded number of queued jobs).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::store::StoreError;

/// A job and whether the writer must be woken for it while it gathers.
pub(super) trait Urgency {
    /// Ends a gathering at once.
    fn is_urgent(&self) -> bool;
}

/// Jobs for one consumer thread, pushed from async callers.
pub(super) struct JobQueue<J> {
    state: Mutex<State<J>>,
    ready: Condvar,
    /// Free places in the queue; closed when the queue is.
    room: Semaphore,
    /// Queued jobs that end a gathering at once.
    group_max: usize,
}

struct State<J> {
    jobs: VecDeque<J>,
    closed: bool,
    listening: Listen,
}

/// What the consumer, asleep, wants to be woken for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listen {
    /// It is not asleep.
    No,
    /// Any job.
    Any,
    /// A job that must not wait, or a full group.
    Urgent,
}

/// What [`JobQueue::next`] found.
pub(super) enum Next<J> {
    Job(J),
    /// The deadline passed with no job.
    TimedOut,
    /// Closed, and every job before the close was taken.
    Closed,
}

impl<J: Urgency> JobQueue<J> {
    /// An empty queue holding at most `capacity` jobs; a gathering ends
    /// once `group_max` are queued.
    pub(super) fn new(capacity: usize, group_max: usize) -> Self {
        Self {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                closed: false,
                listening: Listen::No,
            }),
            ready: Condvar::new(),
            room: Semaphore::new(capacity),
            group_max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        // Nothing panics while holding the lock; a poisoned one still holds
        // consistent jobs.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `queued` jobs fill the group the writer is gathering.
    fn group_full(&self, queued: usize) -> bool {
        queued >= self.group_max
    }

    /// Queues `job`, waiting while the queue is full; fails once closed.
    pub(super) async fn push(&self, job: J) -> Result<(), StoreError> {
        self.room
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?
            .forget();
        let mut state = self.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        let wake = match state.listening {
            Listen::No => false,
            Listen::Any => true,
            Listen::Urgent => job.is_urgent() || self.group_full(state.jobs.len() + 1),
        };
        state.jobs.push_back(job);
        if wake {
            // Once: the consumer looks at the whole queue when it wakes.
            state.listening = Listen::No;
            drop(state);
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Refuses new jobs; those queued before can still be taken.
    pub(super) fn close(&self) {
        self.room.close();
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Takes the next job without waiting.
    pub(super) fn try_next(&self) -> Option<J> {
        let job = self.lock().jobs.pop_front();
        if job.is_some() {
            self.room.add_permits(1);
        }
        job
    }

    /// Waits for the next job until `deadline` (forever without one).
    pub(super) fn next(&self, deadline: Option<Instant>) -> Next<J> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                state.listening = Listen::No;
                drop(state);
                self.room.add_permits(1);
                return Next::Job(job);
            }
            if state.closed {
                return Next::Closed;
            }
            state.listening = Listen::Any;
            state = match deadline {
                None => self.ready.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        state.listening = Listen::No;
                        return Next::TimedOut;
                    };
                    self.ready
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Waits until `deadline`, an urgent job or a full group is queued, or
    /// the queue is closed; the jobs stay queued.
    pub(super) fn gather(&self, deadline: Instant) {
        let mut state = self.lock();
        loop {
            let urgent = state.closed
                || self.group_full(state.jobs.len())
                || state.jobs.iter().any(Urgency::is_urgent);
            let left = deadline.checked_duration_since(Instant::now());
            let Some(left) = left.filter(|_| !urgent) else {
                state.listening = Listen::No;
                return;
            };
            state.listening = Listen::Urgent;
            state = self
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A job: its number and whether it is urgent.
    struct Job(u32, bool);

    impl Urgency for Job {
        fn is_urgent(&self) -> bool {
            self.1
        }
    }

    fn numbers(queue: &JobQueue<Job>) -> Vec<u32> {
        std::iter::from_fn(|| queue.try_next().map(|j| j.0)).collect()
    }

    #[tokio::test]
    async fn jobs_come_out_in_order_and_a_closed_queue_refuses_new_ones() {
        let queue = JobQueue::new(8, 4);
        for n in 0..3 {
            queue.push(Job(n, n == 1)).await.unwrap();
        }
        assert!(matches!(queue.next(None), Next::Job(Job(0, false))));
        queue.close();
        assert!(matches!(
            queue.push(Job(9, true)).await,
            Err(StoreError::Closed)
        ));
        assert_eq!(numbers(&queue), [1, 2]);
        assert!(matches!(queue.next(None), Next::Closed));
    }

    #[tokio::test]
    async fn next_times_out_at_its_deadline() {
        let queue = JobQueue::<Job>::new(8, 4);
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(matches!(queue.next(Some(deadline)), Next::TimedOut));
        assert!(Instant::now() >= deadline);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gathering_ends_early_for_an_urgent_job_only() {
        let queue = Arc::new(JobQueue::new(64, 32));
        let gatherer = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                queue.gather(started + Duration::from_secs(60));
                started.elapsed()
            })
        };
        for n in 0..5 {
            queue.push(Job(n, false)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!gatherer.is_finished(), "woken by a job that can wait");
        queue.push(Job(5, true)).await.unwrap();
        let waited = tokio::task::spawn_blocking(move || gatherer.join().unwrap())
            .await
            .unwrap();
        assert!(waited < Duration::from_secs(60));
        assert_eq!(numbers(&queue), [0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gathering_ends_once_a_group_is_full() {
        let queue = Arc::new(JobQueue::new(64, 4));
        let gatherer = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.gather(Instant::now() + Duration::from_secs(60)))
        };
        for n in 0..4 {
            queue.push(Job(n, false)).await.unwrap();
        }
        tokio::task::spawn_blocking(move || gatherer.join().unwrap())
            .await
            .unwrap();
        assert_eq!(numbers(&queue), [0, 1, 2, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_makes_callers_wait_for_room() {
        let queue = Arc::new(JobQueue::new(2, 2));
        queue.push(Job(0, false)).await.unwrap();
        queue.push(Job(1, false)).await.unwrap();
        let third = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.push(Job(2, false)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "pushed beyond the capacity");
        assert!(matches!(queue.try_next(), Some(Job(0, false))));
        third.await.unwrap().unwrap();
        assert_eq!(numbers(&queue), [1, 2]);
    }
}
