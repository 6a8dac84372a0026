//! Write-behind: the store writes an account makes after the fact (a
//! message handled or refused, a send acknowledged), made by one task at a
//! time instead of a task each.
//!
//! Nothing but shutdown's drain waits for these writes: the reply is out
//! and the conversation's next message runs whatever the store says. A
//! task per write cost a spawn, a wake-up on another thread and a store
//! call each, per message, twice. Here the writes that arrive while a round
//! is being stored wait for the next round and go together: the send
//! records merged into one call, the handled entries side by side (the
//! store group-commits them). Each write still counts in flight, and keeps
//! what it holds (a session, a cached count), until it is stored.

use std::any::Any;
use std::sync::{Arc, Mutex};

use futures::future::join_all;

use crate::account_shared::AccountShared;
use crate::in_flight::{InFlight, InFlightGuard};
use crate::store::{JournaledSend, SentCount, StateChange};

/// A write to make after the fact.
pub(crate) enum Write {
    /// An inbox entry was handled; its run changed this saved state.
    Handled {
        entry: u64,
        changes: Vec<StateChange>,
    },
    /// An inbox entry was refused (`what` says which, for the logs).
    Refused { entry: u64, what: &'static str },
    /// Sends were acknowledged: their counts and journal rows.
    Sent {
        counts: Vec<SentCount>,
        journal: Vec<JournaledSend>,
    },
}

/// Something kept alive until its write is stored.
pub(crate) type Keep = Box<dyn Any + Send>;

/// A queued write with what it holds.
struct Pending {
    write: Write,
    _counted: InFlightGuard,
    _keep: Option<Keep>,
}

/// The writes of one account waiting for their round.
#[derive(Default)]
pub(crate) struct WriteBehind {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    /// A task is storing rounds; it takes what is queued before it ends.
    flushing: bool,
}

impl WriteBehind {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue stays consistent whatever panicked while it was held.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The task storing rounds. Dropped before it saw the queue empty (a
/// panic, or the runtime going away), it lets the next write start another.
struct Flushing {
    shared: Arc<AccountShared>,
    drained: bool,
}

impl Drop for Flushing {
    fn drop(&mut self) {
        if !self.drained {
            self.shared.write_behind.lock().flushing = false;
        }
    }
}

impl AccountShared {
    /// Queues `write`, counted in `counted` and keeping `keep` alive until
    /// it is stored; it is retried until it holds, as
    /// [`AccountShared::until_stored`] retries.
    pub(crate) fn write_later(
        self: &Arc<Self>,
        write: Write,
        counted: &Arc<InFlight>,
        keep: Option<Keep>,
    ) {
        let pending = Pending {
            write,
            _counted: counted.hold(),
            _keep: keep,
        };
        let start = {
            let mut queue = self.write_behind.lock();
            queue.pending.push(pending);
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start {
            tokio::spawn(
                Flushing {
                    shared: self.clone(),
                    drained: false,
                }
                .run(),
            );
        }
    }

    /// Stores one round of writes: the send records in one call, the other
    /// writes side by side.
    async fn store_round(&self, round: Vec<Pending>) {
        let (sends, others): (Vec<Pending>, Vec<Pending>) = round
            .into_iter()
            .partition(|p| matches!(p.write, Write::Sent { .. }));
        let record = async {
            let mut counts = Vec::new();
            let mut journal = Vec::new();
            for p in &sends {
                if let Write::Sent {
                    counts: c,
                    journal: j,
                } = &p.write
                {
                    counts.extend_from_slice(c);
                    journal.extend_from_slice(j);
                }
            }
            if !counts.is_empty() || !journal.is_empty() {
                self.until_stored("recording sent messages", None, || {
                    self.store.record_sent(&self.account, &counts, &journal)
                })
                .await;
            }
            drop(sends);
        };
        let others = others.into_iter().map(|p| async move {
            match &p.write {
                // Retried until it holds: an entry left in the inbox is
                // handled again at the next start, with its state as it
                // was before.
                Write::Handled { entry, changes } => {
                    self.until_stored("marking a message handled", None, || {
                        self.store.mark_handled(&self.account, *entry, changes)
                    })
                    .await;
                }
                Write::Refused { entry, what } => {
                    let ids = [*entry];
                    self.until_stored(&format!("removing {what} from the inbox"), None, || {
                        self.store.inbox_remove(&self.account, &ids)
                    })
                    .await;
                }
                Write::Sent { .. } => {}
            }
            drop(p);
        });
        futures::future::join(record, join_all(others)).await;
    }
}

impl Flushing {
    /// Stores rounds until nothing is queued.
    async fn run(mut self) {
        loop {
            let round = {
                let mut queue = self.shared.write_behind.lock();
                if queue.pending.is_empty() {
                    // A write queued after this takes the flag and starts
                    // a task of its own.
                    queue.flushing = false;
                    self.drained = true;
                    return;
                }
                std::mem::take(&mut queue.pending)
            };
            self.shared.store_round(round).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ilink_core::ILinkClient;
    use tokio::sync::broadcast;

    use super::*;
    use crate::account::AccountId;
    use crate::events::EventSink;
    use crate::options::BotOptions;
    use crate::store::test_support::one_message;
    use crate::store::{SqliteStore, StateStore};

    const USER: &str = "u@im.wechat";

    async fn shared(store: Arc<dyn StateStore>) -> Arc<AccountShared> {
        let client = ILinkClient::builder("http://127.0.0.1:9", "token")
            .build()
            .unwrap();
        let (events, _) = broadcast::channel(16);
        AccountShared::new(
            AccountId::new("b@im.bot"),
            client,
            store,
            Arc::new(BotOptions::default()),
            EventSink::new(events, Arc::new(|_| Box::pin(async {}))),
            None,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_are_stored_and_hold_what_they_keep_until_then() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let shared = shared(store.clone()).await;
        let account = shared.account.clone();
        for id in 1..=3 {
            store
                .commit_received(&account, &one_message(id))
                .await
                .unwrap();
        }
        let counted = Arc::new(InFlight::default());
        let session = Arc::new(());
        let change = StateChange {
            conversation: USER.into(),
            key: "notes".into(),
            value: Some("[1]".into()),
        };
        shared.write_later(
            Write::Handled {
                entry: 1,
                changes: vec![change],
            },
            &counted,
            Some(Box::new(session.clone())),
        );
        shared.write_later(
            Write::Refused {
                entry: 2,
                what: "a refused message",
            },
            &counted,
            None,
        );
        // Sends of one token, recorded out of order: the highest count wins.
        for sent in [2, 3, 1] {
            let count = SentCount {
                user: USER.into(),
                token: "ctx".into(),
                sent,
            };
            shared.write_later(
                Write::Sent {
                    counts: vec![count],
                    journal: Vec::new(),
                },
                &counted,
                None,
            );
        }
        assert_eq!(counted.count(), 5, "each write counts until stored");

        tokio::time::timeout(Duration::from_secs(20), counted.wait_idle())
            .await
            .expect("every write was stored");
        assert_eq!(Arc::strong_count(&session), 1, "the hold ends once stored");
        let left: Vec<u64> = store
            .inbox_load(&account)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(left, [3], "handled and refused entries left the inbox");
        let notes = store.load_state(&account, USER, "notes").await.unwrap();
        assert_eq!(notes.as_deref(), Some("[1]"));
        let token = store.context_token(&account, USER).await.unwrap().unwrap();
        assert_eq!(token.sent, 3);

        // A write after the queue drained starts a round of its own.
        shared.write_later(
            Write::Handled {
                entry: 3,
                changes: Vec::new(),
            },
            &counted,
            None,
        );
        tokio::time::timeout(Duration::from_secs(20), counted.wait_idle())
            .await
            .expect("the later write was stored");
        assert!(store.inbox_load(&account).await.unwrap().is_empty());
    }
}
