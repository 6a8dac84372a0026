//! [`MemoryStore`]: the state store for tests and throwaway bots.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    ContextTokenRecord, InboxEntry, JournaledSend, QUARANTINE_CAP, QuarantinedMessage,
    ReceivedBatch, SentCount, StateChange, StateStore, StoreError,
};
use crate::account::{AccountId, Credentials};
use crate::dedup::DedupKey;

/// Keeps everything in memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cursors: HashMap<AccountId, String>,
    inbox: HashMap<AccountId, BTreeMap<u64, InboxEntry>>,
    tokens: HashMap<(AccountId, String), ContextTokenRecord>,
    dedup: HashMap<AccountId, DedupIndex>,
    credentials: BTreeMap<AccountId, Credentials>,
    /// Per account and entry, the journaled sends by (position, chunk).
    journal: HashMap<(AccountId, u64), BTreeMap<(u32, u32), JournaledSend>>,
    /// Per account, conversation and key, the saved JSON.
    states: HashMap<AccountId, HashMap<(String, String), String>>,
    /// Per account, quarantined messages by id.
    quarantine: HashMap<AccountId, BTreeMap<u64, QuarantinedMessage>>,
}

impl Inner {
    fn remove_entry(&mut self, account: &AccountId, id: u64) {
        if let Some(inbox) = self.inbox.get_mut(account) {
            inbox.remove(&id);
        }
        self.journal.remove(&(account.clone(), id));
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every method checks before it changes anything, so a panic while
        // holding the lock cannot leave a batch half-applied.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Recent dedup keys of one account with the entry that first carried them:
/// about 60 bytes per key (a message has three or four), for `dedup_window`.
#[derive(Debug, Default)]
struct DedupIndex {
    /// The entry that carries each key, and when the key was recorded.
    owners: HashMap<DedupKey, (u64, i64)>,
    /// When each key was recorded, oldest first: what expires next.
    order: VecDeque<(i64, DedupKey)>,
}

impl DedupIndex {
    /// The entry recorded for `key`, if the key is younger than the window.
    fn owner(&self, key: &DedupKey, now_ms: i64, window_ms: i64) -> Option<u64> {
        self.owners
            .get(key)
            .filter(|(_, at)| now_ms - at <= window_ms)
            .map(|(entry, _)| *entry)
    }

    /// Records `key` for `entry`; a key already recorded keeps its time.
    fn insert(&mut self, key: DedupKey, entry: u64, at_ms: i64) {
        match self.owners.get_mut(&key) {
            Some(known) => known.0 = entry,
            None => {
                self.owners.insert(key, (entry, at_ms));
                self.order.push_back((at_ms, key));
            }
        }
    }

    fn expire(&mut self, now_ms: i64, window_ms: i64) {
        while let Some(&(at, key)) = self.order.front() {
            if now_ms - at <= window_ms {
                break;
            }
            self.order.pop_front();
            self.owners.remove(&key);
        }
        // Memory follows the traffic of the last window, not its peak.
        if self.order.capacity() > 64 && self.order.len() < self.order.capacity() / 4 {
            self.order.shrink_to(self.order.len() * 2);
            self.owners.shrink_to(self.owners.len() * 2);
        }
    }
}

/// What a received batch will change, decided before anything changes.
struct Plan {
    /// Per entry, the entry it duplicates.
    firsts: Vec<Option<u64>>,
    /// The keys the new entries record, with their entry.
    keys: Vec<(DedupKey, u64)>,
}

impl Inner {
    /// Decides every entry of `batch` without changing anything, so a
    /// refused batch leaves nothing half-applied.
    fn plan(&self, account: &AccountId, batch: &ReceivedBatch) -> Result<Plan, StoreError> {
        let index = self.dedup.get(account);
        let inbox = self.inbox.get(account);
        let mut recorded: HashMap<DedupKey, u64> = HashMap::new();
        let mut ids = HashSet::new();
        let mut firsts = Vec::with_capacity(batch.entries.len());
        let mut keys = Vec::new();
        for received in &batch.entries {
            let id = received.entry.id;
            let first = received.dedup_keys.iter().find_map(|key| {
                recorded
                    .get(key)
                    .copied()
                    .or_else(|| {
                        index.and_then(|i| i.owner(key, batch.now_ms, batch.dedup_window_ms))
                    })
                    .filter(|owner| *owner != id)
            });
            // A duplicate is not stored, yet a taken id fails it as well.
            if !ids.insert(id) || inbox.is_some_and(|i| i.contains_key(&id)) {
                return Err(StoreError::Conflict {
                    account: account.to_string(),
                    message: format!("inbox entry {id} is already stored"),
                });
            }
            if first.is_none() {
                for key in &received.dedup_keys {
                    recorded.insert(*key, id);
                    keys.push((*key, id));
                }
            }
            firsts.push(first);
        }
        Ok(Plan { firsts, keys })
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn load_cursor(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        Ok(self.lock().cursors.get(account).cloned())
    }

    async fn last_entry_id(&self, account: &AccountId) -> Result<Option<u64>, StoreError> {
        let inner = self.lock();
        let in_inbox = inner
            .inbox
            .get(account)
            .and_then(|m| m.keys().next_back().copied());
        let behind_keys = inner
            .dedup
            .get(account)
            .and_then(|d| d.owners.values().map(|(entry, _)| *entry).max());
        Ok(in_inbox.max(behind_keys))
    }

    async fn inbox_load(&self, account: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        Ok(self
            .lock()
            .inbox
            .get(account)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn commit_received(
        &self,
        account: &AccountId,
        batch: &ReceivedBatch,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let mut inner = self.lock();
        let Plan { firsts, keys } = inner.plan(account, batch)?;
        let index = inner.dedup.entry(account.clone()).or_default();
        if !batch.entries.is_empty() {
            index.expire(batch.now_ms, batch.dedup_window_ms);
        }
        for (key, entry) in keys {
            index.insert(key, entry, batch.now_ms);
        }
        for (received, first) in batch.entries.iter().zip(&firsts) {
            if first.is_some() {
                continue;
            }
            inner
                .inbox
                .entry(account.clone())
                .or_default()
                .insert(received.entry.id, received.entry.clone());
            if let Some(seen) = &received.context_token {
                let slot = (account.clone(), seen.user.clone());
                if let Some(record) = ContextTokenRecord::after_inbound(
                    inner.tokens.get(&slot),
                    seen.token.clone(),
                    seen.at_ms,
                ) {
                    inner.tokens.insert(slot, record);
                }
            }
        }
        if !batch.quarantined.is_empty() {
            let kept = inner.quarantine.entry(account.clone()).or_default();
            for m in &batch.quarantined {
                kept.entry(m.id).or_insert_with(|| m.clone());
            }
            while kept.len() > QUARANTINE_CAP {
                kept.pop_first();
            }
        }
        if let Some(cursor) = &batch.cursor {
            inner.cursors.insert(account.clone(), cursor.clone());
        }
        Ok(firsts)
    }

    async fn inbox_remove(&self, account: &AccountId, ids: &[u64]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for id in ids {
            inner.remove_entry(account, *id);
        }
        Ok(())
    }

    async fn mark_handled(
        &self,
        account: &AccountId,
        entry: u64,
        changes: &[StateChange],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.remove_entry(account, entry);
        let states = inner.states.entry(account.clone()).or_default();
        for change in changes {
            let key = (change.conversation.clone(), change.key.clone());
            match &change.value {
                Some(value) => states.insert(key, value.clone()),
                None => states.remove(&key),
            };
        }
        Ok(())
    }

    async fn journal(
        &self,
        account: &AccountId,
        entry: u64,
    ) -> Result<Vec<JournaledSend>, StoreError> {
        Ok(self
            .lock()
            .journal
            .get(&(account.clone(), entry))
            .map(|rows| rows.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn load_state(
        &self,
        account: &AccountId,
        conversation: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .states
            .get(account)
            .and_then(|s| s.get(&(conversation.to_owned(), key.to_owned())))
            .cloned())
    }

    async fn context_token(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError> {
        Ok(self
            .lock()
            .tokens
            .get(&(account.clone(), user.to_owned()))
            .cloned())
    }

    async fn put_context_token(
        &self,
        account: &AccountId,
        user: &str,
        record: &ContextTokenRecord,
    ) -> Result<(), StoreError> {
        self.lock()
            .tokens
            .insert((account.clone(), user.to_owned()), record.clone());
        Ok(())
    }

    async fn record_sent(
        &self,
        account: &AccountId,
        sends: &[SentCount],
        journal: &[JournaledSend],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for row in journal {
            let in_inbox = inner
                .inbox
                .get(account)
                .is_some_and(|inbox| inbox.contains_key(&row.entry));
            if in_inbox {
                inner
                    .journal
                    .entry((account.clone(), row.entry))
                    .or_default()
                    .insert((row.position, row.chunk), row.clone());
            }
        }
        for send in sends {
            if let Some(record) = inner.tokens.get_mut(&(account.clone(), send.user.clone())) {
                if record.token == send.token {
                    record.sent = record.sent.max(send.sent);
                }
            }
        }
        Ok(())
    }

    async fn quarantine_list(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Vec<QuarantinedMessage>, StoreError> {
        let inner = self.lock();
        let mut accounts: Vec<&AccountId> = inner
            .quarantine
            .keys()
            .filter(|a| account.is_none_or(|want| *a == want))
            .collect();
        accounts.sort();
        Ok(accounts
            .into_iter()
            .flat_map(|a| inner.quarantine[a].values().cloned())
            .collect())
    }

    async fn quarantine_remove(&self, account: &AccountId, id: u64) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .quarantine
            .get_mut(account)
            .is_some_and(|q| q.remove(&id).is_some()))
    }

    async fn forget_account(&self, account: &AccountId) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.cursors.remove(account);
        inner.inbox.remove(account);
        inner.tokens.retain(|(a, _), _| a != account);
        inner.dedup.remove(account);
        inner.journal.retain(|(a, _), _| a != account);
        inner.states.remove(account);
        inner.quarantine.remove(account);
        Ok(())
    }

    async fn save_credentials(&self, creds: &Credentials) -> Result<(), StoreError> {
        self.lock()
            .credentials
            .insert(creds.account_id.clone(), creds.clone());
        Ok(())
    }

    async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        Ok(self.lock().credentials.values().cloned().collect())
    }

    async fn remove_credentials(&self, account: &AccountId) -> Result<bool, StoreError> {
        Ok(self.lock().credentials.remove(account).is_some())
    }
}
