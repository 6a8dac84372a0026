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
//! A write the store can never hold is dropped with an error log instead
//! of being retried for ever behind the others (see
//! `until_stored_or_unfit`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::join_all;

use crate::account_shared::AccountShared;
use crate::in_flight::{InFlight, InFlightGuard};
use crate::store::{JournaledSend, SentCount, StateChange, StoreError};

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
pub(crate) type Keep = Box<dyn Send + Sync>;

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

    /// Waits until every write queued so far is stored (or dropped as one
    /// the store cannot hold): nothing queued, no round being stored. Polls,
    /// as only an account's restart waits for it.
    pub(crate) async fn writes_behind_stored(&self) {
        loop {
            {
                let queue = self.write_behind.lock();
                if queue.pending.is_empty() && !queue.flushing {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Stores one round of writes: the send records merged into one call,
    /// the other writes side by side, except that the handled entries
    /// changing one conversation's saved state go one after the other, in
    /// the order their runs ended. Side by side, each retried alone after
    /// a failed commit with its own backoff, an earlier run's value could
    /// be stored after a later one's and stay. What each write holds is let
    /// go when the round is stored.
    async fn store_round(&self, round: Vec<Pending>) {
        let (sends, others): (Vec<Pending>, Vec<Pending>) = round
            .into_iter()
            .partition(|p| matches!(p.write, Write::Sent { .. }));
        let (alone, chains) = chained_by_conversation(&others);
        let alone = alone.into_iter().map(|write| self.store_alone(write));
        let chains = chains.into_iter().map(|chain| async move {
            for write in chain {
                self.store_alone(write).await;
            }
        });
        futures::future::join3(self.record_sends(&sends), join_all(alone), join_all(chains)).await;
    }

    /// Records the round's sends in one call. Should the store be unable
    /// to hold one of them (a text PostgreSQL refuses), each is recorded
    /// alone, so that one costs only itself.
    async fn record_sends(&self, sends: &[Pending]) {
        let rows: Vec<(&[SentCount], &[JournaledSend])> = sends
            .iter()
            .filter_map(|p| match &p.write {
                Write::Sent { counts, journal } => Some((counts.as_slice(), journal.as_slice())),
                _ => None,
            })
            .collect();
        let counts: Vec<SentCount> = rows.iter().flat_map(|r| r.0).cloned().collect();
        let journal: Vec<JournaledSend> = rows.iter().flat_map(|r| r.1).cloned().collect();
        if counts.is_empty() && journal.is_empty() {
            return;
        }
        let merged = self
            .until_stored_or_unfit("recording sent messages", || {
                self.store.record_sent(&self.account, &counts, &journal)
            })
            .await;
        if merged.is_ok() || rows.len() == 1 {
            return self.unfit(merged, "a sent message's count and journal row");
        }
        for (counts, journal) in rows {
            let alone = self
                .until_stored_or_unfit("recording a sent message", || {
                    self.store.record_sent(&self.account, counts, journal)
                })
                .await;
            self.unfit(alone, "a sent message's count and journal row");
        }
    }

    /// Stores a handled or refused entry.
    async fn store_alone(&self, write: &Write) {
        match write {
            Write::Handled { entry, changes } => {
                let stored = self
                    .until_stored_or_unfit("marking a message handled", || {
                        self.store.mark_handled(&self.account, *entry, changes)
                    })
                    .await;
                // Left in the inbox, it is handled again at the next start,
                // with its state as it was before.
                self.unfit(stored, "a handled message's saved state");
            }
            Write::Refused { entry, what } => {
                let ids = [*entry];
                let stored = self
                    .until_stored_or_unfit(&format!("removing {what} from the inbox"), || {
                        self.store.inbox_remove(&self.account, &ids)
                    })
                    .await;
                self.unfit(stored, what);
            }
            // Recorded together, by `record_sends`.
            Write::Sent { .. } => {}
        }
    }

    /// Runs `op` until it holds, as [`AccountShared::until_stored`] does,
    /// except for a write the store cannot encode ([`StoreError::Encode`]):
    /// it never will, so it is returned rather than retried for ever, which
    /// would hold up every write queued behind it.
    async fn until_stored_or_unfit<Fut>(
        &self,
        what: &str,
        mut op: impl FnMut() -> Fut,
    ) -> Result<(), StoreError>
    where
        Fut: Future<Output = Result<(), StoreError>>,
    {
        self.until_stored(what, Some(&self.retired), || {
            let attempt = op();
            async move {
                match attempt.await {
                    Err(e @ StoreError::Encode { .. }) => Ok(Err(e)),
                    other => other.map(Ok),
                }
            }
        })
        .await
        // Not stored because fenced or closed: `until_stored` said so.
        .unwrap_or(Ok(()))
    }

    /// Says what was not stored because the store cannot hold it.
    fn unfit(&self, stored: Result<(), StoreError>, what: &str) {
        if let Err(e) = stored {
            tracing::error!(
                account = %self.account, error = %e,
                "{what} cannot be stored and is dropped; the rest of the account's writes go on"
            );
        }
    }
}

/// The writes in `queued` that change no saved state, to store side by
/// side (most handled messages: no allocation each), and the others as one
/// chain per conversation, in queue order, to store one after the other (a
/// run's changes are all of its own conversation).
fn chained_by_conversation(queued: &[Pending]) -> (Vec<&Write>, Vec<Vec<&Write>>) {
    let mut alone = Vec::with_capacity(queued.len());
    let mut chains: Vec<Vec<&Write>> = Vec::new();
    let mut chain_of: HashMap<&str, usize> = HashMap::new();
    for pending in queued {
        let conversation = match &pending.write {
            Write::Handled { changes, .. } => changes.first().map(|c| c.conversation.as_str()),
            _ => None,
        };
        let Some(conversation) = conversation else {
            alone.push(&pending.write);
            continue;
        };
        let at = *chain_of.entry(conversation).or_insert_with(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[at].push(&pending.write);
    }
    (alone, chains)
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

    /// The ids still in `account`'s inbox.
    async fn inbox_ids(store: &dyn StateStore, account: &AccountId) -> Vec<u64> {
        let entries = store.inbox_load(account).await.unwrap();
        entries.iter().map(|e| e.id).collect()
    }

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
        let left = inbox_ids(&*store, &account).await;
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writes_of_an_account_abandoned_to_another_worker_are_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let shared = shared(store.clone()).await;
        let account = shared.account.clone();
        store
            .commit_received(&account, &one_message(1))
            .await
            .unwrap();
        // The lease went to another worker, which replays the entry itself.
        shared.retired.cancel();
        let counted = Arc::new(InFlight::default());
        shared.write_later(
            Write::Handled {
                entry: 1,
                changes: Vec::new(),
            },
            &counted,
            None,
        );
        tokio::time::timeout(Duration::from_secs(20), counted.wait_idle())
            .await
            .expect("the write is let go");
        let left = inbox_ids(&*store, &account).await;
        assert_eq!(left, [1], "left for the worker that holds the account now");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_the_store_cannot_hold_costs_only_itself() {
        use crate::store::pg_testing::TestSchema;
        let Some(schema) = TestSchema::create("write_behind_unfit").await else {
            return;
        };
        let store: Arc<dyn StateStore> = Arc::new(schema.store().await);
        let shared = shared(store.clone()).await;
        let account = shared.account.clone();
        for id in 1..=2 {
            store
                .commit_received(&account, &one_message(id))
                .await
                .unwrap();
        }
        let counted = Arc::new(InFlight::default());
        // PostgreSQL text cannot hold NUL: a user id or saved value with
        // one (it came from the network) can never be stored.
        let send = |user: &str, sent| Write::Sent {
            counts: vec![SentCount {
                user: user.into(),
                token: "ctx".into(),
                sent,
            }],
            journal: Vec::new(),
        };
        shared.write_later(send("bad\0user", 1), &counted, None);
        shared.write_later(send(USER, 4), &counted, None);
        let unfit = StateChange {
            conversation: USER.into(),
            key: "notes".into(),
            value: Some("\"a\0b\"".into()),
        };
        shared.write_later(
            Write::Handled {
                entry: 1,
                changes: vec![unfit],
            },
            &counted,
            None,
        );
        shared.write_later(
            Write::Handled {
                entry: 2,
                changes: Vec::new(),
            },
            &counted,
            None,
        );

        tokio::time::timeout(Duration::from_secs(30), counted.wait_idle())
            .await
            .expect("the writes the store can hold were not held up by the others");
        let token = store.context_token(&account, USER).await.unwrap().unwrap();
        assert_eq!(token.sent, 4, "the good send of the round is recorded");
        let left = inbox_ids(&*store, &account).await;
        assert_eq!(
            left,
            [1],
            "the unfit entry stays in the inbox, the other is handled"
        );
        assert_eq!(
            store.load_state(&account, USER, "notes").await.unwrap(),
            None
        );
    }
}
