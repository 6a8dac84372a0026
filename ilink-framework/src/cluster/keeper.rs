//! The lease keeper of a cluster worker: a task that renews the worker's
//! heartbeat, stops accounts whose lease was lost, takes free leases up to
//! the worker's share and hands the extra ones over, and, when the bot
//! shuts down, drains and releases everything.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx_postgres::PgListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fence::Fence;
use super::leases::{self, WorkerRow};
use crate::account::{AccountId, Credentials};
use crate::bot::BotHandle;
use crate::store::{PgStore, StateStore, StoreError};
use crate::supervisor::ShutdownReport;

/// How long a keeper waits after a failed round before trying again.
const RETRY: Duration = Duration::from_millis(500);

/// The running keeper: stop it to drain and release every lease.
pub(crate) struct KeeperHandle {
    stop: CancellationToken,
    task: JoinHandle<ShutdownReport>,
}

impl KeeperHandle {
    /// Drains the worker's accounts, releases their leases (each one as
    /// soon as its account stopped) and leaves the cluster.
    pub(crate) async fn shutdown(self) -> ShutdownReport {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }
}

/// Accounts on their way in or out, which a round leaves alone.
#[derive(Default)]
struct Moving {
    starting: HashSet<AccountId>,
    leaving: HashSet<AccountId>,
}

/// Waits until `done` holds of the accounts on the move (polled: only a
/// stopping worker waits for them).
async fn until_moved(moving: &Mutex<Moving>, done: impl Fn(&Moving) -> bool) {
    while !done(&moving.lock().unwrap_or_else(|e| e.into_inner())) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lease keeper of one worker.
pub(crate) struct Keeper {
    handle: BotHandle,
    store: Arc<PgStore>,
    fence: Arc<Fence>,
    me: WorkerRow,
    every: Duration,
    moving: Arc<Mutex<Moving>>,
    /// The credentials each running account was started with, to pass on
    /// a token that `ilink login` replaced in the database.
    started: HashMap<AccountId, Credentials>,
}

impl Keeper {
    pub(crate) fn new(
        handle: BotHandle,
        store: Arc<PgStore>,
        fence: Arc<Fence>,
        ttl: Duration,
        every: Duration,
    ) -> Self {
        let me = WorkerRow {
            id: fence.worker().to_owned(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            ttl_ms: ttl.as_millis().try_into().unwrap_or(i64::MAX),
        };
        Self {
            handle,
            store,
            fence,
            me,
            every,
            moving: Arc::default(),
            started: HashMap::new(),
        }
    }

    /// Registers the worker (its first heartbeat) and starts the keeper.
    pub(crate) async fn start(self) -> Result<KeeperHandle, StoreError> {
        let sent = Instant::now();
        leases::heartbeat(self.store.pool(), &self.me)
            .await
            .map_err(|e| self.store.db_error(e))?;
        self.fence.renewed(sent);
        tracing::info!(worker = %self.me.id, "joined the cluster");
        let stop = CancellationToken::new();
        let task = tokio::spawn(self.run(stop.clone()));
        Ok(KeeperHandle { stop, task })
    }

    async fn run(mut self, stop: CancellationToken) -> ShutdownReport {
        let mut listener = self.listen().await;
        while !stop.is_cancelled() {
            let wait = match self.round().await {
                Ok(()) => self.every,
                Err(e) => {
                    tracing::warn!(worker = %self.me.id, error = %e, "cluster round failed; retrying");
                    RETRY.min(self.every)
                }
            };
            let woken = async {
                match listener.as_mut() {
                    Some(l) => {
                        if l.recv().await.is_err() {
                            // The listener reconnects on its next call; until
                            // then the timer alone paces the rounds.
                            tokio::time::sleep(wait).await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = woken => {}
                _ = stop.cancelled() => {}
            }
        }
        self.drain().await
    }

    /// Listens for other workers' releases; without it (the database
    /// refused) rounds still run on the timer.
    async fn listen(&self) -> Option<PgListener> {
        let listen = async {
            let mut l = PgListener::connect_with(self.store.pool()).await?;
            l.listen(leases::CHANNEL).await?;
            Ok::<_, sqlx_core::error::Error>(l)
        };
        match listen.await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(worker = %self.me.id, error = %self.store.db_error(e), "cannot listen for lease releases; relying on the heartbeat timer");
                None
            }
        }
    }

    /// One round: heartbeat, leases lost, then the share.
    async fn round(&mut self) -> Result<(), StoreError> {
        let sent = Instant::now();
        let pool = self.store.pool().clone();
        let store = self.store.clone();
        let db = |e| store.db_error(e);
        leases::heartbeat(&pool, &self.me).await.map_err(db)?;
        let held: HashMap<String, i64> = leases::held(&pool, &self.me.id)
            .await
            .map_err(db)?
            .into_iter()
            .collect();
        for (account, epoch) in self.fence.held() {
            if held.get(account.as_str()) == Some(&epoch) {
                continue;
            }
            // An account still starting is not running yet, so it cannot be
            // abandoned: out of the fence it polls and writes nothing, and
            // its start's task stops it once started. Decided under the lock
            // that task ends its start under, so one of the two stops it.
            let starting = {
                let m = self.moving.lock().unwrap_or_else(|e| e.into_inner());
                let starting = m.starting.contains(&account);
                if starting {
                    self.fence.remove(&account);
                }
                starting
            };
            if starting {
                tracing::warn!(worker = %self.me.id, %account, "lease lost while the account was starting; stopping it once started");
                self.started.remove(&account);
            } else {
                self.lost(account).await;
            }
        }
        let leaving = {
            let m = self.moving.lock().unwrap_or_else(|e| e.into_inner());
            m.leaving.clone()
        };
        // Only now: a poller must not see a fresh heartbeat while the
        // fence still names an account another worker took.
        self.fence.renewed(sent);
        for (account, epoch) in &held {
            let id = AccountId::new(account.as_str());
            if self.fence.epoch(&id).is_none() && !leaving.contains(&id) {
                // Held in the database but not run here (a handover that
                // did not finish): give it back.
                leases::release(&pool, &self.me.id, account, *epoch)
                    .await
                    .map_err(db)?;
            }
        }
        let creds: HashMap<AccountId, Credentials> = self
            .store
            .list_credentials()
            .await?
            .into_iter()
            .map(|c| (c.account_id.clone(), c))
            .collect();
        self.balance(&creds, &leaving).await?;
        self.pass_on_new_tokens(&creds).await;
        leases::forget_dead(&pool).await.map_err(db)?;
        Ok(())
    }

    /// Stops an account whose lease another worker holds now.
    async fn lost(&mut self, account: AccountId) {
        tracing::warn!(worker = %self.me.id, %account, "lease lost: another worker holds the account now; stopping it here");
        self.fence.remove(&account);
        self.started.remove(&account);
        self.handle.abandon_account(&account).await;
    }

    /// Takes free leases up to the share, hands the extra ones over.
    async fn balance(
        &mut self,
        creds: &HashMap<AccountId, Credentials>,
        leaving: &HashSet<AccountId>,
    ) -> Result<(), StoreError> {
        let pool = self.store.pool().clone();
        let workers = leases::active_workers(&pool)
            .await
            .map_err(|e| self.store.db_error(e))?
            .max(1) as usize;
        let share = creds.len().div_ceil(workers);
        let mut mine: Vec<(AccountId, i64)> = Vec::new();
        for (account, epoch) in self.fence.held() {
            if leaving.contains(&account) {
                continue;
            }
            if creds.contains_key(&account) {
                mine.push((account, epoch));
            } else {
                // `ilink accounts remove` took its credentials away.
                self.hand_over(account, epoch, true);
            }
        }
        if mine.len() > share {
            for (account, epoch) in mine.split_off(share) {
                self.hand_over(account, epoch, false);
            }
            return Ok(());
        }
        let wanted = (share - mine.len()) as i64;
        if wanted == 0 {
            return Ok(());
        }
        let free = leases::claimable(&pool, &self.me.id, wanted)
            .await
            .map_err(|e| self.store.db_error(e))?;
        for account in free {
            let id = AccountId::new(account.as_str());
            let Some(creds) = creds.get(&id) else {
                continue;
            };
            let claimed = leases::claim(&pool, &self.me.id, &account)
                .await
                .map_err(|e| self.store.db_error(e))?;
            if let Some(epoch) = claimed {
                self.take(creds.clone(), epoch);
            }
        }
        Ok(())
    }

    /// Starts an account whose lease was just taken at `epoch`.
    fn take(&mut self, creds: Credentials, epoch: i64) {
        let account = creds.account_id.clone();
        tracing::info!(worker = %self.me.id, %account, epoch, "lease taken");
        self.fence.insert(account.clone(), epoch);
        self.started.insert(account.clone(), creds.clone());
        self.moving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .starting
            .insert(account.clone());
        let (handle, store, fence, moving, worker) = self.parts();
        tokio::spawn(async move {
            let started = handle.start_account(creds).await;
            if let Err(e) = &started {
                tracing::error!(%worker, %account, error = %e, "cannot start a leased account; releasing it");
                fence.remove(&account);
                let _ = leases::release(store.pool(), &worker, account.as_str(), epoch).await;
                let _ = leases::notify(store.pool()).await;
            }
            // The round that found the lease lost while this start ran took
            // the account out of the fence (see `round`).
            let lost_meanwhile = {
                let mut m = moving.lock().unwrap_or_else(|e| e.into_inner());
                m.starting.remove(&account);
                started.is_ok() && fence.epoch(&account) != Some(epoch)
            };
            if lost_meanwhile {
                tracing::warn!(%worker, %account, "lease lost while the account was starting; stopping it here");
                handle.abandon_account(&account).await;
            }
        });
    }

    /// Drains an account, then releases its lease (and forgets it when its
    /// credentials are gone) and tells the other workers.
    fn hand_over(&mut self, account: AccountId, epoch: i64, forget: bool) {
        tracing::info!(worker = %self.me.id, %account, "handing the account over");
        self.started.remove(&account);
        self.moving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .leaving
            .insert(account.clone());
        let (handle, store, fence, moving, worker) = self.parts();
        tokio::spawn(async move {
            release_after_stop(&handle, &store, &fence, &worker, &account, epoch, forget).await;
            moving
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .leaving
                .remove(&account);
        });
    }

    /// Gives running accounts the tokens saved for them since they started.
    async fn pass_on_new_tokens(&mut self, creds: &HashMap<AccountId, Credentials>) {
        let changed: Vec<Credentials> = self
            .started
            .iter()
            .filter_map(|(account, old)| {
                let new = creds.get(account)?;
                (new.bot_token != old.bot_token || new.base_url != old.base_url)
                    .then(|| new.clone())
            })
            .collect();
        for new in changed {
            tracing::info!(worker = %self.me.id, account = %new.account_id, "new credentials in the database; passing them on");
            if self.handle.replace_credentials(new.clone()).await.is_ok() {
                self.started.insert(new.account_id.clone(), new);
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn parts(
        &self,
    ) -> (
        BotHandle,
        Arc<PgStore>,
        Arc<Fence>,
        Arc<Mutex<Moving>>,
        String,
    ) {
        (
            self.handle.clone(),
            self.store.clone(),
            self.fence.clone(),
            self.moving.clone(),
            self.me.id.clone(),
        )
    }

    /// The worker stops: it says so (the others stop counting it), drains
    /// every account and releases each lease as soon as its account
    /// stopped, heartbeating meanwhile, then leaves the cluster.
    async fn drain(self) -> ShutdownReport {
        let pool = self.store.pool().clone();
        if let Err(e) = leases::set_stopping(&pool, &self.me.id).await {
            tracing::warn!(worker = %self.me.id, error = %self.store.db_error(e), "cannot mark the worker stopping");
        }
        // Wait for accounts still starting, so each is drained like the rest.
        until_moved(&self.moving, |m| m.starting.is_empty()).await;
        // An account being handed over is released by its hand-over once
        // stopped; released here as well, it would go to another worker
        // while its handlers still run.
        let leaving = self
            .moving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .leaving
            .clone();
        let stopped = futures::future::join_all(
            self.fence
                .held()
                .into_iter()
                .filter(|(account, _)| !leaving.contains(account))
                .map(|(account, epoch)| {
                    let (handle, store, fence, worker) =
                        (&self.handle, &self.store, &self.fence, self.me.id.as_str());
                    async move {
                        release_after_stop(handle, store, fence, worker, &account, epoch, false)
                            .await
                    }
                }),
        );
        let handed_over = until_moved(&self.moving, |m| m.leaving.is_empty());
        let drain_all = async { futures::future::join(stopped, handed_over).await.0 };
        let mut drain_all = std::pin::pin!(drain_all);
        let mut beat = tokio::time::interval(self.every);
        let reports = loop {
            tokio::select! {
                reports = &mut drain_all => break reports,
                _ = beat.tick() => {
                    let sent = Instant::now();
                    if leases::heartbeat(&pool, &self.me).await.is_ok() {
                        self.fence.renewed(sent);
                    }
                }
            }
        };
        if let Err(e) = leases::deregister(&pool, &self.me.id).await {
            tracing::warn!(worker = %self.me.id, error = %self.store.db_error(e), "cannot leave the cluster cleanly; the others take over after the lease TTL");
        }
        let _ = leases::notify(&pool).await;
        tracing::info!(worker = %self.me.id, "left the cluster");
        reports
            .into_iter()
            .fold(ShutdownReport::default(), |acc, r| ShutdownReport {
                unhandled: acc.unhandled + r.unhandled,
                unsent: acc.unsent + r.unsent,
            })
    }
}

/// Stops `account` in order (drain, flush, notifystop), then releases its
/// lease and wakes the other workers.
async fn release_after_stop(
    handle: &BotHandle,
    store: &PgStore,
    fence: &Fence,
    worker: &str,
    account: &AccountId,
    epoch: i64,
    forget: bool,
) -> ShutdownReport {
    let report = handle.stop_account(account).await.unwrap_or_default();
    fence.remove(account);
    let pool = store.pool();
    let released = async {
        leases::release(pool, worker, account.as_str(), epoch).await?;
        if forget {
            leases::drop_lease(pool, account.as_str()).await?;
        }
        leases::notify(pool).await
    };
    match released.await {
        Ok(()) => tracing::info!(%worker, %account, "lease released"),
        Err(e) => {
            tracing::warn!(%worker, %account, error = %store.db_error(e), "cannot release the lease; it expires after the TTL")
        }
    }
    report
}
