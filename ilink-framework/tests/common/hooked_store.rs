//! [`HookedStore`]: a [`MemoryStore`] whose calls a test can delay or fail,
//! as a slow or full disk would, through one [`StoreHooks`] implementation.

use std::sync::Arc;

use ilink_framework::prelude::*;
use ilink_framework::store::{
    ContextTokenRecord, InboxEntry, JournaledSend, MemoryStore, QuarantinedMessage, ReceivedBatch,
    SentCount, StateChange, StateStore, StoreError,
};

/// A write or read of the store, as a hook sees it before it happens.
#[derive(Clone, Copy, Debug)]
pub enum Call<'a> {
    InboxLoad,
    CommitReceived(&'a ReceivedBatch),
    InboxRemove(&'a [u64]),
    MarkHandled(u64, &'a [StateChange]),
    RecordSent(&'a [JournaledSend]),
}

/// What a test changes about the store; every method defaults to "as is".
#[async_trait]
pub trait StoreHooks: Send + Sync + 'static {
    /// Runs before `call`; an error fails the call with nothing stored.
    async fn before(&self, _call: Call<'_>) -> Result<(), StoreError> {
        Ok(())
    }
    /// Runs after `call` succeeded.
    async fn after(&self, _call: Call<'_>) {}
}

/// A [`MemoryStore`] with hooks around the calls in [`Call`]; the others
/// go straight to it.
pub struct HookedStore<H> {
    pub inner: MemoryStore,
    pub hooks: Arc<H>,
}

impl<H: StoreHooks> HookedStore<H> {
    pub fn new(hooks: H) -> Self {
        Self {
            inner: MemoryStore::new(),
            hooks: Arc::new(hooks),
        }
    }

    async fn around<T>(
        &self,
        call: Call<'_>,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.hooks.before(call).await?;
        let value = op.await?;
        self.hooks.after(call).await;
        Ok(value)
    }
}

#[async_trait]
impl<H: StoreHooks> StateStore for HookedStore<H> {
    async fn load_cursor(&self, a: &AccountId) -> Result<Option<String>, StoreError> {
        self.inner.load_cursor(a).await
    }
    async fn inbox_load(&self, a: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        self.around(Call::InboxLoad, self.inner.inbox_load(a)).await
    }
    async fn last_entry_id(&self, a: &AccountId) -> Result<Option<u64>, StoreError> {
        self.inner.last_entry_id(a).await
    }
    async fn commit_received(
        &self,
        a: &AccountId,
        batch: &ReceivedBatch,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let call = Call::CommitReceived(batch);
        self.around(call, self.inner.commit_received(a, batch))
            .await
    }
    async fn inbox_remove(&self, a: &AccountId, ids: &[u64]) -> Result<(), StoreError> {
        self.around(Call::InboxRemove(ids), self.inner.inbox_remove(a, ids))
            .await
    }
    async fn mark_handled(
        &self,
        a: &AccountId,
        entry: u64,
        changes: &[StateChange],
    ) -> Result<(), StoreError> {
        let call = Call::MarkHandled(entry, changes);
        self.around(call, self.inner.mark_handled(a, entry, changes))
            .await
    }
    async fn journal(&self, a: &AccountId, entry: u64) -> Result<Vec<JournaledSend>, StoreError> {
        self.inner.journal(a, entry).await
    }
    async fn load_state(
        &self,
        a: &AccountId,
        conversation: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        self.inner.load_state(a, conversation, key).await
    }
    async fn context_token(
        &self,
        a: &AccountId,
        u: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError> {
        self.inner.context_token(a, u).await
    }
    async fn put_context_token(
        &self,
        a: &AccountId,
        u: &str,
        r: &ContextTokenRecord,
    ) -> Result<(), StoreError> {
        self.inner.put_context_token(a, u, r).await
    }
    async fn record_sent(
        &self,
        a: &AccountId,
        sends: &[SentCount],
        journal: &[JournaledSend],
    ) -> Result<(), StoreError> {
        let call = Call::RecordSent(journal);
        self.around(call, self.inner.record_sent(a, sends, journal))
            .await
    }
    async fn quarantine_list(
        &self,
        a: Option<&AccountId>,
    ) -> Result<Vec<QuarantinedMessage>, StoreError> {
        self.inner.quarantine_list(a).await
    }
    async fn quarantine_remove(&self, a: &AccountId, id: u64) -> Result<bool, StoreError> {
        self.inner.quarantine_remove(a, id).await
    }
    async fn forget_account(&self, a: &AccountId) -> Result<(), StoreError> {
        self.inner.forget_account(a).await
    }
    async fn account_started(&self, a: &AccountId) -> Result<(), StoreError> {
        self.inner.account_started(a).await
    }
    async fn save_credentials(&self, c: &Credentials) -> Result<(), StoreError> {
        self.inner.save_credentials(c).await
    }
    async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        self.inner.list_credentials().await
    }
    async fn remove_credentials(&self, a: &AccountId) -> Result<bool, StoreError> {
        self.inner.remove_credentials(a).await
    }
}
