//! [`MemoryStore`]: the state store for tests and throwaway bots.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::{ContextTokenRecord, InboxEntry, StateStore, StoreError};
use crate::account::{AccountId, Credentials};

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

/// Recent dedup keys of one account with the entry that first carried them.
/// Each key is allocated once and shared by the map and the expiry order.
#[derive(Debug, Default)]
pub(crate) struct DedupIndex {
    keys: HashMap<Arc<str>, (u64, i64)>,
    order: VecDeque<(i64, Arc<str>)>,
}

impl DedupIndex {
    pub(crate) fn check_insert(
        &mut self,
        keys: &[String],
        entry: u64,
        now_ms: i64,
        window_ms: i64,
    ) -> Option<u64> {
        self.expire(now_ms, window_ms);
        for key in keys {
            if let Some((owner, _)) = self.keys.get(key.as_str()) {
                if *owner != entry {
                    return Some(*owner);
                }
            }
        }
        for key in keys {
            self.insert(key, entry, now_ms);
        }
        None
    }

    pub(crate) fn insert(&mut self, key: &str, entry: u64, at_ms: i64) {
        if let Some(value) = self.keys.get_mut(key) {
            *value = (entry, at_ms);
            return;
        }
        let key: Arc<str> = Arc::from(key);
        self.keys.insert(key.clone(), (entry, at_ms));
        self.order.push_back((at_ms, key));
    }

    fn expire(&mut self, now_ms: i64, window_ms: i64) {
        while let Some((at, _)) = self.order.front() {
            if now_ms - *at <= window_ms {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.keys.remove(&*key);
            }
        }
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, u64, i64)> {
        self.order
            .iter()
            .filter_map(|(_, k)| self.keys.get(k).map(|(e, at)| (&**k, *e, *at)))
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
        keys: &[String],
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
