use super::*;
use crate::account::{AccountId, Credentials};
use crate::store::MemoryStore;
use crate::store::{
    ContextTokenRecord, InboxEntry, JournaledSend, QuarantinedMessage, ReceivedBatch, SentCount,
    StateChange, StateStore, StoreError,
};

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    run_all(|| async { MemoryStore::new() }).await;
}

/// A store that forgets removals: the contract must catch it.
struct ForgetsRemovals(MemoryStore);

#[async_trait::async_trait]
impl StateStore for ForgetsRemovals {
    async fn load_cursor(&self, a: &AccountId) -> Result<Option<String>, StoreError> {
        self.0.load_cursor(a).await
    }
    async fn inbox_load(&self, a: &AccountId) -> Result<Vec<InboxEntry>, StoreError> {
        self.0.inbox_load(a).await
    }
    async fn last_entry_id(&self, a: &AccountId) -> Result<Option<u64>, StoreError> {
        self.0.last_entry_id(a).await
    }
    async fn commit_received(
        &self,
        a: &AccountId,
        b: &ReceivedBatch,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        self.0.commit_received(a, b).await
    }
    async fn inbox_remove(&self, _: &AccountId, _: &[u64]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn context_token(
        &self,
        a: &AccountId,
        u: &str,
    ) -> Result<Option<ContextTokenRecord>, StoreError> {
        self.0.context_token(a, u).await
    }
    async fn put_context_token(
        &self,
        a: &AccountId,
        u: &str,
        r: &ContextTokenRecord,
    ) -> Result<(), StoreError> {
        self.0.put_context_token(a, u, r).await
    }
    async fn mark_handled(
        &self,
        a: &AccountId,
        entry: u64,
        c: &[StateChange],
    ) -> Result<(), StoreError> {
        self.0.mark_handled(a, entry, c).await
    }
    async fn journal(&self, a: &AccountId, entry: u64) -> Result<Vec<JournaledSend>, StoreError> {
        self.0.journal(a, entry).await
    }
    async fn load_state(
        &self,
        a: &AccountId,
        c: &str,
        k: &str,
    ) -> Result<Option<String>, StoreError> {
        self.0.load_state(a, c, k).await
    }
    async fn record_sent(
        &self,
        a: &AccountId,
        s: &[SentCount],
        j: &[JournaledSend],
    ) -> Result<(), StoreError> {
        self.0.record_sent(a, s, j).await
    }
    async fn quarantine_list(
        &self,
        a: Option<&AccountId>,
    ) -> Result<Vec<QuarantinedMessage>, StoreError> {
        self.0.quarantine_list(a).await
    }
    async fn quarantine_remove(&self, a: &AccountId, id: u64) -> Result<bool, StoreError> {
        self.0.quarantine_remove(a, id).await
    }
    async fn forget_account(&self, a: &AccountId) -> Result<(), StoreError> {
        self.0.forget_account(a).await
    }
    async fn save_credentials(&self, c: &Credentials) -> Result<(), StoreError> {
        self.0.save_credentials(c).await
    }
    async fn list_credentials(&self) -> Result<Vec<Credentials>, StoreError> {
        self.0.list_credentials().await
    }
    async fn remove_credentials(&self, a: &AccountId) -> Result<bool, StoreError> {
        self.0.remove_credentials(a).await
    }
}

#[tokio::test]
async fn a_store_breaking_the_contract_fails_it_by_name() {
    let result = AssertUnwindSafe(run_all(|| async { ForgetsRemovals(MemoryStore::new()) }))
        .catch_unwind()
        .await;
    let panic = result.expect_err("the contract caught the broken store");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("inbox_keeps_id_order_and_removes"),
        "{message}"
    );
}
