//! What every actor of one account shares: the protocol client (replaceable
//! when new credentials arrive), the store, the options, the account's
//! health, the event sink, its metric handles and its live status.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ilink_core::ILinkClient;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::account::AccountId;
use crate::cluster::Fence;
use crate::events::{AccountEventKind, EventSink};
use crate::instruments::AccountMetrics;
use crate::options::BotOptions;
use crate::status::{AccountStatus, Live};
use crate::store::{StateStore, StoreError};
use crate::write_behind::WriteBehind;

/// Whether the account's token works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// Calls go through.
    Ok,
    /// The server answered `-14`; calls pause until a probe works or new
    /// credentials arrive.
    SessionExpired,
}

/// State shared by the poller, router, sessions and sender of one account.
pub(crate) struct AccountShared {
    pub(crate) account: AccountId,
    /// The client and its generation, bumped on every replacement so a late
    /// `-14` answered to the old token is not blamed on the new one.
    client: RwLock<(u64, ILinkClient)>,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) options: Arc<BotOptions>,
    health: watch::Sender<Health>,
    pub(crate) events: EventSink,
    /// In a cluster, the worker's leases: the account is polled only while
    /// its lease is fresh.
    lease: Option<Arc<Fence>>,
    /// What the account's actors count and time.
    pub(crate) metrics: AccountMetrics,
    /// The values behind [`AccountShared::status`].
    pub(crate) live: Live,
    /// Store writes waiting for their round (see [`crate::write_behind`]).
    pub(crate) write_behind: WriteBehind,
    /// Fired when a cluster worker abandons the account (its lease went to
    /// another worker): the writes still queued or retried are not made.
    /// Retried later, they would commit under a lease this worker may have
    /// taken again since, over what the other worker stored meanwhile.
    pub(crate) retired: CancellationToken,
}

impl AccountShared {
    /// Runs the store write `op` until it succeeds. After each failure: a
    /// warn log, an [`AccountEventKind::StoreError`], and a wait by the poll
    /// retry policy (doubling from `poll_backoff_initial` up to
    /// `poll_backoff_max`, jittered); after a success that followed
    /// failures, [`AccountEventKind::StoreRecovered`]. `None` when `cancel`
    /// has fired (before an attempt, or during a wait).
    ///
    /// A full disk or a locked database is usually temporary, and giving
    /// up would lose messages: the server does not send a batch twice.
    /// A write refused by a cluster's fence ([`StoreError::Fenced`]), or
    /// made after the store was closed ([`StoreError::Closed`]), is not
    /// retried: `None` at once. Neither gets better by waiting.
    pub(crate) async fn until_stored<T, Fut>(
        &self,
        what: &str,
        cancel: Option<&CancellationToken>,
        mut op: impl FnMut() -> Fut,
    ) -> Option<T>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let retry = self.options.poll_retry();
        let mut failures = 0u32;
        loop {
            if cancel.is_some_and(CancellationToken::is_cancelled) {
                return None;
            }
            let began = Instant::now();
            let result = op().await;
            self.metrics.store_write(began.elapsed());
            match result {
                Ok(value) => {
                    if failures > 0 {
                        tracing::info!(account = %self.account, failures, "the store works again: {what}");
                        self.events
                            .emit(&self.account, AccountEventKind::StoreRecovered);
                    }
                    return Some(value);
                }
                Err(e @ (StoreError::Fenced { .. } | StoreError::Closed)) => {
                    // Retrying cannot help: the account is another worker's
                    // now, and the lease keeper is stopping it here; or the
                    // process is stopping.
                    tracing::warn!(account = %self.account, error = %e, "not stored: {what}");
                    return None;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(account = %self.account, error = %e, failures, "store failed: {what}; retrying");
                    self.events.emit(
                        &self.account,
                        AccountEventKind::StoreError {
                            error: e.to_string(),
                            consecutive: failures,
                        },
                    );
                    let delay: Duration = retry
                        .delay(failures)
                        .unwrap_or(self.options.poll_backoff_max);
                    match cancel {
                        Some(cancel) => tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = cancel.cancelled() => return None,
                        },
                        None => tokio::time::sleep(delay).await,
                    }
                }
            }
        }
    }

    pub(crate) fn new(
        account: AccountId,
        client: ILinkClient,
        store: Arc<dyn StateStore>,
        options: Arc<BotOptions>,
        events: EventSink,
        lease: Option<Arc<Fence>>,
    ) -> Arc<Self> {
        let metrics = AccountMetrics::new(&account);
        let live = Live::new(&metrics);
        Arc::new(Self {
            account,
            metrics,
            live,
            client: RwLock::new((0, client)),
            store,
            options,
            health: watch::Sender::new(Health::Ok),
            events,
            lease,
            write_behind: WriteBehind::default(),
            retired: CancellationToken::new(),
        })
    }

    /// Whether this process may poll the account now: always outside a
    /// cluster; in one, while the worker's lease on it is fresh.
    pub(crate) fn may_poll(&self) -> bool {
        self.lease.as_ref().is_none_or(|f| f.fresh(&self.account))
    }

    /// Resolves once this process may no longer poll the account: never
    /// outside a cluster; in one, when the lease stops being fresh.
    pub(crate) async fn lease_lapsed(&self) {
        match &self.lease {
            Some(fence) => fence.lapsed(&self.account).await,
            None => std::future::pending().await,
        }
    }

    /// The current client (cheap clone; replaced on new credentials).
    pub(crate) fn client(&self) -> ILinkClient {
        self.current().1
    }

    /// The current client with its generation.
    pub(crate) fn current(&self) -> (u64, ILinkClient) {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Swaps in a client with new credentials and marks the account healthy.
    pub(crate) fn replace_client(&self, client: ILinkClient) {
        {
            let mut slot = self.client.write().unwrap_or_else(|e| e.into_inner());
            *slot = (slot.0 + 1, client);
        }
        self.events
            .emit(&self.account, AccountEventKind::CredentialsReplaced);
        self.set_health(Health::Ok);
    }

    pub(crate) fn health(&self) -> Health {
        *self.health.borrow()
    }

    /// The account's status as `BotHandle::status` reports it.
    pub(crate) fn status(&self) -> AccountStatus {
        self.live
            .status(&self.account, self.health() == Health::SessionExpired)
    }

    pub(crate) fn subscribe_health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// Marks the session expired, unless the `-14` was answered to a client
    /// that has since been replaced.
    pub(crate) fn session_expired(&self, generation: u64) {
        if self.current().0 == generation {
            self.set_health(Health::SessionExpired);
        }
    }

    /// Records a health change and tells the application once per change.
    pub(crate) fn set_health(&self, health: Health) {
        let changed = self.health.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
        if changed {
            // Brings the account's up gauge along.
            self.status();
            if health == Health::SessionExpired {
                self.metrics.session_expired.increment(1);
            }
            let kind = match health {
                Health::Ok => AccountEventKind::Recovered,
                Health::SessionExpired => AccountEventKind::SessionExpired,
            };
            self.events.emit(&self.account, kind);
        }
    }
}
