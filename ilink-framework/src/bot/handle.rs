//! [`BotHandle`]: a running [`Bot`]'s accounts, events, status and shutdown.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ilink_core::ILinkClient;
use ilink_core::config::{DEFAULT_BASE_URL, DEFAULT_CDN_BASE_URL};
use ractor::Actor;
use tokio::sync::broadcast;

use crate::account::{AccountId, Credentials};
use crate::account_lock::AccountLock;
use crate::account_shared::AccountShared;
use crate::cluster::{Cluster, Fence, Keeper, new_worker_id, worker_connect_options};
use crate::error::BotError;
use crate::events::{AccountEvent, EventHook, EventSink};
use crate::handler::Handler;
use crate::signal::ShutdownSignal;
use crate::status::BotStatus;
use crate::store::{PgConnectOptions, PgPoolOptions, PgStore, StateStore, StoreError};
use crate::supervisor::{AccountArgs, AccountSupervisor, ShutdownReport, SupervisorMsg};

use super::{Inner, RunningAccount, StoreSource};

/// Controls a running [`Bot`](crate::Bot). Cheap to clone.
#[derive(Clone)]
pub struct BotHandle {
    pub(super) inner: Arc<Inner>,
}

impl BotHandle {
    fn client_for(&self, creds: &Credentials) -> Result<ILinkClient, BotError> {
        let o = &self.inner.options;
        let mut b = ILinkClient::builder(
            creds
                .base_url
                .clone()
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            creds.bot_token.clone(),
        )
        .cdn_base_url(
            creds
                .cdn_base_url
                .clone()
                .unwrap_or_else(|| DEFAULT_CDN_BASE_URL.to_owned()),
        );
        b = b
            .max_response_bytes(o.max_response_bytes)
            .max_download_bytes(o.max_download_bytes);
        if let Some(v) = &o.channel_version {
            b = b.channel_version(v.clone());
        }
        if let Some(a) = &o.bot_agent {
            b = b.bot_agent(a.clone());
        }
        if let Some(t) = &o.route_tag {
            b = b.route_tag(t.clone());
        }
        if let Some(h) = &self.inner.http {
            b = b.http_client(h.clone());
        }
        b.build().map_err(|e| BotError::Config(e.to_string()))
    }

    /// Connects to the cluster's database, saves `accounts` there and
    /// starts the lease keeper, which starts this worker's share.
    pub(super) async fn join_cluster(
        self,
        cluster: Cluster,
        accounts: Vec<Credentials>,
    ) -> Result<Self, BotError> {
        let fence = Arc::new(Fence::new(new_worker_id(), cluster.lease_ttl));
        let options = PgConnectOptions::from_str(&cluster.database_url).map_err(|e| {
            BotError::Store(StoreError::Database {
                path: "the cluster's PostgreSQL database URL".into(),
                source: Arc::new(e),
            })
        })?;
        let options = worker_connect_options(options, cluster.lease_ttl);
        let store = Arc::new(
            PgStore::connect_fenced(options, PgPoolOptions::new(), Some(fence.clone())).await?,
        );
        for creds in &accounts {
            store.save_credentials(creds).await?;
        }
        *self.inner.store.lock().await = StoreSource::Ready(store.clone());
        let _ = self.inner.fence.set(fence.clone());
        let keeper = Keeper::new(
            self.clone(),
            store,
            fence,
            cluster.lease_ttl,
            cluster.heartbeat_every(),
        )
        .start()
        .await?;
        *self.inner.keeper.lock().await = Some(keeper);
        Ok(self)
    }

    /// The cluster's store, when this bot is a cluster worker.
    async fn cluster_store(&self) -> Option<Arc<dyn StateStore>> {
        self.inner.fence.get()?;
        self.inner.store().await.ok()
    }

    /// Starts an account while the bot runs. Fails with
    /// [`BotError::AccountLocked`] when another process polls it.
    ///
    /// A cluster worker saves the credentials in the cluster's database
    /// instead; the worker whose share it falls into starts it.
    pub async fn add_account(&self, creds: Credentials) -> Result<(), BotError> {
        if let Some(store) = self.cluster_store().await {
            store.save_credentials(&creds).await?;
            return Ok(());
        }
        self.start_account(creds).await
    }

    /// Starts an account here (a cluster worker: one it holds the lease of).
    pub(crate) async fn start_account(&self, creds: Credentials) -> Result<(), BotError> {
        if self
            .inner
            .running
            .lock()
            .await
            .contains_key(&creds.account_id)
        {
            return Err(BotError::AccountAlreadyRunning(creds.account_id));
        }
        // Taken before anything polls, and without holding `running`: a
        // lock wait must not block shutdown or other accounts.
        let lock = match &self.inner.lock_dir {
            Some(dir) => Some(
                AccountLock::acquire_within(dir, &creds.account_id, self.inner.lock_wait).await?,
            ),
            None => None,
        };
        let mut running = self.inner.running.lock().await;
        if running.contains_key(&creds.account_id) {
            return Err(BotError::AccountAlreadyRunning(creds.account_id));
        }
        let client = self.client_for(&creds)?;
        let store = self.inner.store().await?;
        // Another process may have run the account since this one last did.
        store.account_started(&creds.account_id).await?;
        let shared = AccountShared::new(
            creds.account_id.clone(),
            client,
            store,
            self.inner.options.clone(),
            EventSink::new(self.inner.events.clone(), handler_hook(&self.inner.handler)),
            self.inner.fence.get().cloned(),
        );
        let args = AccountArgs {
            shared: shared.clone(),
            handler: self.inner.handler.clone(),
            limiter: self.inner.limiter.clone(),
            key_fn: self.inner.key_fn.clone(),
        };
        let (supervisor, _) = Actor::spawn(None, AccountSupervisor, args)
            .await
            .map_err(|e| BotError::from_spawn("account supervisor", &e))?;
        running.insert(
            creds.account_id,
            RunningAccount {
                supervisor,
                shared,
                _lock: lock,
            },
        );
        Ok(())
    }

    /// Stops an account in order (drain, flush, notifystop) and forgets it.
    ///
    /// A cluster worker removes its credentials from the cluster's
    /// database instead; the worker running it stops it (this one, at its
    /// next heartbeat) and the report is empty.
    pub async fn remove_account(&self, account: &AccountId) -> Result<ShutdownReport, BotError> {
        if let Some(store) = self.cluster_store().await {
            if !store.remove_credentials(account).await? {
                return Err(BotError::UnknownAccount(account.clone()));
            }
            return Ok(ShutdownReport::default());
        }
        self.stop_account(account).await
    }

    /// Stops an account running here in order and forgets it.
    pub(crate) async fn stop_account(
        &self,
        account: &AccountId,
    ) -> Result<ShutdownReport, BotError> {
        let entry = self
            .inner
            .running
            .lock()
            .await
            .remove(account)
            .ok_or_else(|| BotError::UnknownAccount(account.clone()))?;
        Ok(stop_account(entry, self.inner.options.shutdown_deadline).await)
    }

    /// Stops an account at once, without draining: its lease is another
    /// worker's now.
    pub(crate) async fn abandon_account(&self, account: &AccountId) {
        let Some(entry) = self.inner.running.lock().await.remove(account) else {
            return;
        };
        let stopped = ractor::call_t!(
            entry.supervisor,
            SupervisorMsg::Abandon,
            CHILD_STOP_WAIT.as_millis() as u64
        );
        if let Err(e) = stopped {
            tracing::error!(account = %account, error = %e, "account did not stop in time");
            entry.supervisor.kill();
        }
    }

    /// Gives a running account new credentials (e.g. after a fresh QR login
    /// following `-14`); it resumes at once.
    pub async fn replace_credentials(&self, creds: Credentials) -> Result<(), BotError> {
        let client = self.client_for(&creds)?;
        let running = self.inner.running.lock().await;
        let entry = running
            .get(&creds.account_id)
            .ok_or_else(|| BotError::UnknownAccount(creds.account_id.clone()))?;
        entry.shared.replace_client(client);
        Ok(())
    }

    /// The running accounts.
    pub async fn accounts(&self) -> Vec<AccountId> {
        let mut ids: Vec<AccountId> = self.inner.running.lock().await.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The status of the bot and of each running account: the view the
    /// admin endpoint's `/status` and `/readyz` give.
    pub async fn status(&self) -> BotStatus {
        let accounts = self
            .inner
            .running
            .lock()
            .await
            .values()
            .map(|entry| entry.shared.status())
            .collect();
        BotStatus::new(self.inner.stopping.load(Ordering::SeqCst), accounts)
    }

    /// Where the admin endpoint listens, while it does.
    pub async fn admin_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "admin")]
        {
            self.inner.admin.lock().await.as_ref().map(|a| a.addr())
        }
        #[cfg(not(feature = "admin"))]
        None
    }

    #[cfg(feature = "admin")]
    pub(super) async fn start_admin(&self) -> Result<(), BotError> {
        let Some(addr) = self.inner.admin_addr else {
            return Ok(());
        };
        let weak = Arc::downgrade(&self.inner);
        let status: crate::admin::StatusFn = Arc::new(move || {
            let weak = weak.clone();
            Box::pin(async move {
                let inner = weak.upgrade()?;
                Some(BotHandle { inner }.status().await)
            })
        });
        let server = crate::admin::AdminServer::start(addr, status).await?;
        *self.inner.admin.lock().await = Some(server);
        Ok(())
    }

    #[cfg(not(feature = "admin"))]
    pub(super) async fn start_admin(&self) -> Result<(), BotError> {
        if let Some(addr) = self.inner.admin_addr {
            tracing::warn!(%addr, "no admin endpoint: ilink-framework was built without its `admin` feature");
        }
        Ok(())
    }

    /// Account events from now on.
    pub fn events(&self) -> broadcast::Receiver<AccountEvent> {
        self.inner.events.subscribe()
    }

    /// Waits for ctrl-c or SIGTERM, then shuts down in order and returns the
    /// report; a second signal during the drain returns
    /// [`BotError::Interrupted`] at once.
    pub async fn run_until_signal(&self) -> Result<ShutdownReport, BotError> {
        self.run_until(ShutdownSignal::new()).await
    }

    /// Like [`BotHandle::run_until_signal`], with a signal listener created
    /// earlier (e.g. before telling the user to press ctrl-c).
    ///
    /// On [`BotError::Interrupted`] the accounts are left as they were when
    /// the second signal came: handlers may still run and sends may be
    /// queued until the process ends. Messages whose handlers did not finish
    /// stay in a persistent store's inbox and are handled on the next start.
    pub async fn run_until(&self, mut signal: ShutdownSignal) -> Result<ShutdownReport, BotError> {
        signal.recv().await;
        tracing::info!("shutting down; press ctrl-c again to quit at once");
        tokio::select! {
            report = self.shutdown() => Ok(report),
            _ = signal.recv() => {
                tracing::warn!("second signal: the shutdown stops draining");
                Err(BotError::Interrupted)
            }
        }
    }

    /// Stops every account in order; returns the summed report. A cluster
    /// worker releases each lease as soon as its account stopped, then
    /// leaves the cluster.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let keeper = self.inner.keeper.lock().await.take();
        let from_cluster = match keeper {
            Some(keeper) => keeper.shutdown().await,
            None => ShutdownReport::default(),
        };
        let entries: Vec<RunningAccount> = self
            .inner
            .running
            .lock()
            .await
            .drain()
            .map(|(_, e)| e)
            .collect();
        let deadline = self.inner.options.shutdown_deadline;
        let reports =
            futures::future::join_all(entries.into_iter().map(|e| stop_account(e, deadline))).await;
        #[cfg(feature = "admin")]
        if let Some(admin) = self.inner.admin.lock().await.take() {
            admin.stop().await;
        }
        reports
            .into_iter()
            .fold(from_cluster, |acc, r| ShutdownReport {
                unhandled: acc.unhandled + r.unhandled,
                unsent: acc.unsent + r.unsent,
            })
    }
}

/// Passes account events to the handler's `on_account_event`.
fn handler_hook(handler: &Arc<dyn Handler>) -> EventHook {
    let handler = handler.clone();
    Arc::new(move |event| {
        let handler = handler.clone();
        Box::pin(async move { handler.on_account_event(&event).await })
    })
}

/// How long an abandoned account may take to stop its actors.
const CHILD_STOP_WAIT: Duration = Duration::from_secs(15);

async fn stop_account(entry: RunningAccount, deadline: Duration) -> ShutdownReport {
    // The supervisor's own deadline bounds the drain; the margin covers the
    // poller, router and sender stops and notifystop.
    let wait = deadline + Duration::from_secs(30);
    match ractor::call_t!(
        entry.supervisor,
        SupervisorMsg::Shutdown,
        wait.as_millis() as u64
    ) {
        Ok(report) => report,
        Err(e) => {
            tracing::error!(account = %entry.shared.account, error = %e, "account did not shut down in time");
            entry.supervisor.kill();
            ShutdownReport::default()
        }
    }
}
