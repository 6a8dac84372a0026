//! [`MemoryStore`]: the state store for tests and throwaway bots.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use super::{ContextTokenRecord, InboxEntry, StateStore, StoreError};
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
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated
        // (each method does one insert/remove), so the poison is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Recent dedup keys of one account with the entry that first carried them:
/// about 50 bytes per key (a message has three or four), for `dedup_window`.
#[derive(Debug, Default)]
pub(crate) struct DedupIndex {
    owners: HashMap<DedupKey, u64>,
    /// When each key was recorded, oldest first: what expires next.
    order: VecDeque<(i64, DedupKey)>,
}

impl DedupIndex {
    pub(crate) fn check_insert(
        &mut self,
        keys: &[DedupKey],
        entry: u64,
        now_ms: i64,
        window_ms: i64,
    ) -> Option<u64> {
        self.expire(now_ms, window_ms);
        for key in keys {
            if let Some(&owner) = self.owners.get(key) {
                if owner != entry {
                    return Some(owner);
                }
            }
        }
        for key in keys {
            self.insert(*key, entry, now_ms);
        }
        None
    }

    /// Records `key` for `entry`; a key already recorded keeps its time.
    pub(crate) fn insert(&mut self, key: DedupKey, entry: u64, at_ms: i64) {
        match self.owners.entry(key) {
            Entry::Occupied(mut known) => {
                known.insert(entry);
            }
            Entry::Vacant(new) => {
                new.insert(entry);
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

    /// How many keys are recorded.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Every key with its entry and time, oldest first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (DedupKey, u64, i64)> + '_ {
        self.order
            .iter()
            .filter_map(|&(at, key)| self.owners.get(&key).map(|&entry| (key, entry, at)))
    }
}

impl StateStore for MemoryStore {
    fn load_cursor(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        Ok(self.lock().cursors.get(account).cloned())
    }

    fn save_cursor(&self, account: &AccountId, cursor: &str) -> Result<(), StoreError> {
        self.lock()
            .cursors
            .insert(account.clone(), cursor.to_owned());
        Ok(())
    }

    fn inbox_put(&self, account: &AccountId, entries: &[InboxEntry]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let inbox = inner.inbox.entry(account.clone()).or_default();
        for e in entries {
            inbox.insert(e.id, e.clone());
        }
        Ok(())
    }

    fn inbox_remove(&self, account: &AccountId, id: u64) -> Result<(), StoreError> {
        if let Some(inbox) = self.lock().inbox.get_mut(account) {
            inbox.remove(&id);
        }
        Ok(())
    }

    fn inbox_load(&self, account: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        Ok(self
            .lock()
            .inbox
            .get(account)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }

    fn context_token(
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

    fn put_context_token(
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

    fn dedup_check_insert(
        &self,
        account: &AccountId,
        keys: &[DedupKey],
        entry: u64,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .lock()
            .dedup
            .entry(account.clone())
            .or_default()
            .check_insert(keys, entry, now_ms, window_ms))
    }

    fn forget_account(&self, account: &AccountId) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.cursors.remove(account);
        inner.inbox.remove(account);
        inner.tokens.retain(|(a, _), _| a != account);
        inner.dedup.remove(account);
        Ok(())
    }

    fn save_credentials(&self, creds: &Credentials) -> Result<(), StoreError> {
        self.lock()
            .credentials
            .insert(creds.account_id.clone(), creds.clone());
        Ok(())
    }

    fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        Ok(self.lock().credentials.values().cloned().collect())
    }

    fn remove_credentials(&self, account: &AccountId) -> Result<bool, StoreError> {
        Ok(self.lock().credentials.remove(account).is_some())
    }
}
