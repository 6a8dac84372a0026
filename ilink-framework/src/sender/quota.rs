//! The send quota, enforced before a request leaves, and the token book
//! that counts it.
//!
//! Each inbound message's context token allows `quota_per_context` bot
//! messages; the bot's own sends do not renew it, and a token older than
//! `context_ttl` allows none.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ilink_core::Secret;

use crate::account::AccountId;
use crate::error::SendError;
use crate::options::BotOptions;
use crate::store::{ContextTokenRecord, SentCount, StateStore, StoreError, now_ms};

/// Where a user's quota stands: the one rule for "may the bot send now",
/// shared by the Sender and tools such as `ilink send`.
///
/// ```
/// use std::time::Duration;
/// use ilink_framework::{BotOptions, QuotaState};
/// use ilink_framework::store::ContextTokenRecord;
///
/// let record = ContextTokenRecord { token: "ctx".into(), received_at_ms: 1_000, sent: 9 };
/// let quota = QuotaState::of(Some(&record), &BotOptions::default(), 61_000);
/// assert_eq!(quota.remaining, 1);
/// assert_eq!(quota.token_age, Duration::from_secs(60));
/// assert!(quota.check("u", 1).is_ok());
/// assert!(quota.check("u", 2).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaState {
    /// Whether the user has ever written (a context token is stored).
    pub has_context: bool,
    /// Messages sent with the newest token.
    pub sent: u32,
    /// Messages allowed per inbound message.
    pub limit: u32,
    /// Messages still allowed before the user must write again.
    pub remaining: u32,
    /// Age of the newest token.
    pub token_age: Duration,
    /// How long a token allows replies.
    pub ttl: Duration,
    /// Whether the token is too old to reply with.
    pub expired: bool,
}

impl QuotaState {
    /// The quota given the user's newest token record (if any) at `now_ms`.
    pub fn of(record: Option<&ContextTokenRecord>, options: &BotOptions, now_ms: i64) -> Self {
        let limit = options.quota_per_context;
        let ttl = options.context_ttl;
        match record {
            Some(r) => {
                let token_age =
                    Duration::from_millis(now_ms.saturating_sub(r.received_at_ms).max(0) as u64);
                let expired = token_age > ttl;
                Self {
                    has_context: true,
                    sent: r.sent,
                    limit,
                    remaining: if expired {
                        0
                    } else {
                        limit.saturating_sub(r.sent)
                    },
                    token_age,
                    ttl,
                    expired,
                }
            }
            None => Self {
                has_context: false,
                sent: 0,
                limit,
                remaining: 0,
                token_age: Duration::ZERO,
                ttl,
                expired: false,
            },
        }
    }

    /// Whether `n` more messages may be sent to `user`; the error says why not.
    pub fn check(&self, user: &str, n: u32) -> Result<(), SendError> {
        if !self.has_context {
            return Err(SendError::NoContext {
                user: user.to_owned(),
            });
        }
        if self.expired {
            return Err(SendError::ContextExpired {
                user: user.to_owned(),
                age: self.token_age,
            });
        }
        if self.sent.saturating_add(n) > self.limit {
            return Err(SendError::QuotaExhausted {
                user: user.to_owned(),
                sent: self.sent,
                limit: self.limit,
                token_age: self.token_age,
            });
        }
        Ok(())
    }
}

/// Newest context token per user, with send counts; memory in front of the store.
pub(crate) struct TokenBook {
    account: AccountId,
    store: Arc<dyn StateStore>,
    cache: DashMap<String, ContextTokenRecord>,
    /// Users whose cached record must stay: a send to them is under way, or
    /// its count is not stored yet. Forgetting it then would read back the
    /// store's older count and allow a send past the quota.
    pins: Arc<DashMap<String, usize>>,
    options: BotOptions,
}

/// Keeps a user's cached record in the [`TokenBook`] while it lives.
pub(crate) struct Pin {
    pins: Arc<DashMap<String, usize>>,
    user: String,
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.pins.remove_if_mut(&self.user, |_, n| {
            *n -= 1;
            *n == 0
        });
    }
}

/// What [`TokenBook::reserve`] grants: the token to send with, the count
/// and age it had, and a pin that keeps its cached count until dropped.
pub(crate) struct Reserved {
    pub(crate) token: Secret,
    pub(crate) sent_before: u32,
    pub(crate) token_age: Duration,
    pub(crate) pin: Pin,
}

impl TokenBook {
    pub(crate) fn new(
        account: AccountId,
        store: Arc<dyn StateStore>,
        options: &BotOptions,
    ) -> Self {
        Self {
            account,
            store,
            cache: DashMap::new(),
            pins: Arc::default(),
            options: options.clone(),
        }
    }

    async fn load(&self, user: &str) -> Result<Option<ContextTokenRecord>, StoreError> {
        if let Some(r) = self.cache.get(user) {
            return Ok(Some(r.clone()));
        }
        let Some(stored) = self.store.context_token(&self.account, user).await? else {
            return Ok(self.cache.get(user).map(|r| r.clone()));
        };
        // A record cached while the store was read (a new message's token,
        // observed meanwhile) is newer than the one read: it stays.
        let cached = self.cache.entry(user.to_owned()).or_insert(stored).clone();
        Ok(Some(cached))
    }

    /// Drops cached records of users who have not written for
    /// `idle_timeout` (the store keeps them; a later send reads them back),
    /// so the cache does not grow with every user ever seen. A pinned
    /// record stays.
    pub(crate) fn forget_idle(&self, now_ms: i64) {
        let idle = self.options.idle_timeout.as_millis() as i64;
        self.cache
            .retain(|user, r| now_ms - r.received_at_ms < idle || self.pins.contains_key(user));
    }

    fn pin(&self, user: &str) -> Pin {
        // A user with a send in flight is pinned already: no key to allocate.
        let pinned = self.pins.get_mut(user).map(|mut n| *n += 1).is_some();
        if !pinned {
            *self.pins.entry(user.to_owned()).or_insert(0) += 1;
        }
        Pin {
            pins: self.pins.clone(),
            user: user.to_owned(),
        }
    }

    /// Brings the token of a new inbound message into the cache; the count
    /// restarts. The store has it already: the Poller's batch commit wrote
    /// it before the message was dispatched.
    pub(crate) async fn observe(
        &self,
        user: &str,
        token: Secret,
        received_at_ms: i64,
    ) -> Result<(), StoreError> {
        let existing = self.load(user).await?;
        if let Some(rec) =
            ContextTokenRecord::after_inbound(existing.as_ref(), token, received_at_ms)
        {
            self.cache.insert(user.to_owned(), rec);
        }
        Ok(())
    }

    /// The token to send `n` messages with, or why they may not be sent.
    /// Keep the pin until the sends' count is stored.
    pub(crate) async fn reserve(&self, user: &str, n: u32) -> Result<Reserved, SendError> {
        // Pinned before the load, so the record it brings into the cache
        // is still there when the send is counted.
        let pin = self.pin(user);
        let record = self.load(user).await?;
        let quota = QuotaState::of(record.as_ref(), &self.options, now_ms());
        quota.check(user, n)?;
        Ok(Reserved {
            token: record.map(|r| r.token).unwrap_or_default(),
            sent_before: quota.sent,
            token_age: quota.token_age,
            pin,
        })
    }

    /// Counts one message sent with `token` in the cache, if it is still
    /// the user's newest; returns the count for the store to record (see
    /// `Delivery::record_sent`).
    pub(crate) fn counted(&self, user: &str, token: &Secret) -> Option<SentCount> {
        let mut record = self.cache.get_mut(user)?;
        if &record.token != token {
            return None;
        }
        record.sent += 1;
        Some(SentCount {
            user: user.to_owned(),
            token: token.clone(),
            sent: record.sent,
        })
    }

    /// The newest token of a user, for typing and config calls.
    pub(crate) async fn token(&self, user: &str) -> Option<Secret> {
        self.load(user).await.ok().flatten().map(|r| r.token)
    }

    /// The user's quota now. Read in place when cached: every reply asks
    /// it once for all its messages, and a copy of the record would be an
    /// allocation per message for nothing.
    pub(crate) async fn state(&self, user: &str) -> Result<QuotaState, StoreError> {
        let now = now_ms();
        if let Some(cached) = self.cache.get(user) {
            return Ok(QuotaState::of(Some(&cached), &self.options, now));
        }
        Ok(QuotaState::of(
            self.load(user).await?.as_ref(),
            &self.options,
            now,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn book(limit: u32) -> TokenBook {
        let opts = BotOptions {
            quota_per_context: limit,
            ..Default::default()
        };
        TokenBook::new(AccountId::new("a"), Arc::new(MemoryStore::new()), &opts)
    }

    /// Counts a send as the sender does: in the cache, then in the store.
    async fn count_sent(b: &TokenBook, user: &str, token: &Secret) {
        let counts: Vec<_> = b.counted(user, token).into_iter().collect();
        b.store.record_sent(&b.account, &counts, &[]).await.unwrap();
    }

    /// A message from `user` with `token` arrives: the Poller's batch
    /// commit stores the token, then the Router brings it into the book.
    async fn inbound(b: &TokenBook, user: &str, token: &str, at_ms: i64) {
        let stored = b.store.context_token(&b.account, user).await.unwrap();
        if let Some(rec) = ContextTokenRecord::after_inbound(stored.as_ref(), token.into(), at_ms) {
            b.store
                .put_context_token(&b.account, user, &rec)
                .await
                .unwrap();
        }
        b.observe(user, token.into(), at_ms).await.unwrap();
    }

    #[tokio::test]
    async fn idle_users_leave_the_cache_but_keep_their_count_in_the_store() {
        let b = book(2);
        let idle = b.options.idle_timeout.as_millis() as i64;
        let now = now_ms();
        inbound(&b, "old", "t-old", now - idle - 1).await;
        inbound(&b, "new", "t-new", now).await;
        let t = b.reserve("old", 1).await.unwrap().token;
        count_sent(&b, "old", &t).await;
        b.forget_idle(now);
        assert!(b.cache.get("old").is_none());
        assert!(b.cache.get("new").is_some());
        // Read back from the store, with its count.
        assert_eq!(b.state("old").await.unwrap().sent, 1);
    }

    #[tokio::test]
    async fn an_idle_users_count_stays_cached_until_the_store_has_it() {
        let b = book(2);
        let idle = b.options.idle_timeout.as_millis() as i64;
        let now = now_ms();
        inbound(&b, "u", "t", now - idle - 1).await;
        let reserved = b.reserve("u", 1).await.unwrap();
        // The sweep runs while the send is under way: the record stays.
        b.forget_idle(now);
        let count = b.counted("u", &reserved.token).expect("still cached");
        assert_eq!(count.sent, 1);
        // The sweep runs again before the count is stored: it must not
        // fall back to the store's 0 and allow a third send.
        b.forget_idle(now);
        let second = b.reserve("u", 1).await.unwrap();
        assert_eq!(second.sent_before, 1);
        assert!(b.counted("u", &second.token).is_some());
        assert!(matches!(
            b.reserve("u", 1).await,
            Err(SendError::QuotaExhausted { sent: 2, .. })
        ));
        // Once both counts are stored and their pins dropped, it may go.
        drop((reserved, second));
        b.forget_idle(now);
        assert!(b.cache.get("u").is_none());
        assert!(b.pins.is_empty());
    }

    #[tokio::test]
    async fn quota_counts_per_token_and_resets_on_a_new_one() {
        let b = book(2);
        assert!(matches!(
            b.reserve("u", 1).await,
            Err(SendError::NoContext { .. })
        ));
        inbound(&b, "u", "t1", now_ms()).await;
        let t = b.reserve("u", 1).await.unwrap().token;
        count_sent(&b, "u", &t).await;
        count_sent(&b, "u", &t).await;
        assert!(matches!(
            b.reserve("u", 1).await,
            Err(SendError::QuotaExhausted { sent: 2, .. })
        ));
        // A redelivery of the same token does not reset the count.
        inbound(&b, "u", "t1", now_ms()).await;
        assert!(b.reserve("u", 1).await.is_err());
        inbound(&b, "u", "t2", now_ms()).await;
        assert_eq!(b.state("u").await.unwrap().remaining, 2);
        assert!(matches!(
            b.reserve("u", 3).await,
            Err(SendError::QuotaExhausted { .. })
        ));
    }

    #[tokio::test]
    async fn a_token_the_store_could_not_keep_still_counts_from_the_cache() {
        let b = book(2);
        // Only the book knows the token (nothing in the store): it still counts.
        b.observe("u", "t1".into(), now_ms()).await.unwrap();
        let t = b.reserve("u", 1).await.unwrap().token;
        count_sent(&b, "u", &t).await;
        assert_eq!(b.state("u").await.unwrap().sent, 1);
    }

    #[tokio::test]
    async fn old_tokens_are_expired() {
        let b = book(10);
        inbound(&b, "u", "t", now_ms() - 25 * 3600 * 1000).await;
        assert!(matches!(
            b.reserve("u", 1).await,
            Err(SendError::ContextExpired { .. })
        ));
        assert!(b.state("u").await.unwrap().expired);
    }
}
