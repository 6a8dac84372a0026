//! [`Bot`]: the runtime that runs one or many accounts with one handler, and
//! [`BotHandle`], to add and remove accounts, replace credentials, watch
//! account events and shut down while it runs.
//!
//! ```no_run
//! use ilink_framework::prelude::*;
//!
//! struct Echo;
//!
//! #[async_trait]
//! impl Handler for Echo {
//!     async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
//!         ctx.reply(format!("Echo: {}", msg.text().unwrap_or_default())).await?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo() -> Result<(), BotError> {
//! Bot::builder(Echo)
//!     .account(Credentials::new("bot@im.bot", "bot@im.bot:secret"))
//!     .state_dir("./state")
//!     .build()?
//!     .run()
//!     .await
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ilink_core::ILinkClient;
use ilink_core::config::{DEFAULT_BASE_URL, DEFAULT_CDN_BASE_URL};
use ractor::{Actor, ActorRef};
use tokio::sync::{Mutex, Semaphore, broadcast};

use crate::account::{AccountId, Credentials};
use crate::account_lock::AccountLock;
use crate::account_shared::AccountShared;
use crate::cluster::{Cluster, Fence, Keeper, KeeperHandle, new_worker_id, worker_connect_options};
use crate::conversation::{ConversationKey, KeyFn, default_key};
use crate::error::BotError;
use crate::events::{AccountEvent, EventHook, EventSink};
use crate::handler::Handler;
use crate::message::Message;
use crate::options::BotOptions;
use crate::settings::Settings;
use crate::signal::ShutdownSignal;
use crate::status::BotStatus;
use crate::store::{
    MemoryStore, PgConnectOptions, PgPoolOptions, PgStore, SqliteStore, StateStore, StoreError,
};
use crate::supervisor::{AccountArgs, AccountSupervisor, ShutdownReport, SupervisorMsg};

/// Configures a [`Bot`].
pub struct BotBuilder {
    handler: Arc<dyn Handler>,
    accounts: Vec<Credentials>,
    options: BotOptions,
    store: Option<Arc<dyn StateStore>>,
    state_dir: Option<PathBuf>,
    key_fn: KeyFn,
    http: Option<reqwest::Client>,
    lock_wait: Duration,
    cluster: Option<Cluster>,
    admin: Option<SocketAddr>,
}

impl BotBuilder {
    /// Runs this account (repeat for several).
    pub fn account(mut self, creds: Credentials) -> Self {
        self.accounts.push(creds);
        self
    }

    /// Runs these accounts.
    pub fn accounts(mut self, creds: impl IntoIterator<Item = Credentials>) -> Self {
        self.accounts.extend(creds);
        self
    }

    /// Runs the accounts of `settings` and keeps state in its directory;
    /// serves the admin endpoint on its address, when it has one.
    ///
    /// Settings naming a cluster ([`Settings::cluster`]) make the bot a
    /// worker of that cluster instead, with no state directory.
    pub fn settings(mut self, settings: Settings) -> Self {
        if let Some(addr) = settings.admin_addr {
            self.admin = Some(addr);
        }
        let with_accounts = self.accounts(settings.accounts);
        match settings.cluster {
            Some(cluster) => with_accounts.cluster_with(cluster),
            None => with_accounts.state_dir(settings.state_dir),
        }
    }

    /// Serves the admin endpoint on `addr` while the bot runs: `/metrics`
    /// (Prometheus), `/healthz`, `/readyz` and `/status` (see
    /// `docs/deployment.md`). Off by default; it has no authentication, so
    /// bind it to loopback or a private interface. Port 0 picks a free
    /// port ([`BotHandle::admin_addr`] says which).
    ///
    /// Without the `admin` feature the address is ignored with a warning.
    pub fn admin(mut self, addr: SocketAddr) -> Self {
        self.admin = Some(addr);
        self
    }

    /// Runtime settings.
    pub fn options(mut self, options: BotOptions) -> Self {
        self.options = options;
        self
    }

    /// Keeps state (cursors, inbox, tokens, dedup keys) in the SQLite
    /// database `dir/ilink.db`, opened when the bot starts, and locks each
    /// account there so that only one process polls it (see
    /// [`account_lock`](crate::account_lock)). Without a state directory no
    /// lock is taken.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Keeps state in this store (overrides [`BotBuilder::state_dir`]).
    pub fn store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// How messages are grouped into conversations (default: group, else sender).
    pub fn conversation_key(
        mut self,
        f: impl Fn(&Message) -> ConversationKey + Send + Sync + 'static,
    ) -> Self {
        self.key_fn = Arc::new(f);
        self
    }

    /// How long starting an account waits for another process to release
    /// its lock (default: not at all, [`BotError::AccountLocked`] at once).
    /// For rolling deploys, where the new process starts before the old one
    /// has stopped.
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Runs as a worker of the cluster of the PostgreSQL database at
    /// `database_url`: state and accounts live there, and this process
    /// runs the share of the accounts it holds leases on (see
    /// [`cluster`](crate::cluster) and docs/scaling.md). Accounts given to
    /// the builder are saved in the database for the whole cluster.
    pub fn cluster(self, database_url: impl Into<String>) -> Self {
        self.cluster_with(Cluster::new(database_url))
    }

    /// [`BotBuilder::cluster`] with lease timings of your own.
    pub fn cluster_with(mut self, cluster: Cluster) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The HTTP client to use for every account.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the configuration and builds the bot.
    pub fn build(self) -> Result<Bot, BotError> {
        self.options.validate().map_err(BotError::Config)?;
        if let Some(cluster) = &self.cluster {
            cluster.validate().map_err(BotError::Config)?;
            if self.store.is_some() || self.state_dir.is_some() {
                return Err(BotError::Config(
                    "a cluster worker keeps its state in the cluster's database: \
                     set no store or state directory besides"
                        .into(),
                ));
            }
        }
        let lock_dir = self.state_dir.clone();
        let store = match (self.store, self.state_dir, &self.cluster) {
            (_, _, Some(cluster)) => StoreSource::Cluster(cluster.clone()),
            (Some(s), _, None) => StoreSource::Ready(s),
            (None, Some(dir), None) => StoreSource::Dir(dir),
            (None, None, None) => {
                tracing::warn!(
                    "no state directory: cursors, inbox and context tokens live in memory only"
                );
                StoreSource::Ready(Arc::new(MemoryStore::new()))
            }
        };
        let (events, _) = broadcast::channel(1024);
        let limiter = Arc::new(Semaphore::new(self.options.max_concurrent_handlers));
        Ok(Bot {
            accounts: self.accounts,
            inner: Arc::new(Inner {
                handler: self.handler,
                options: Arc::new(self.options),
                store: Mutex::new(store),
                key_fn: self.key_fn,
                http: self.http,
                events,
                limiter,
                lock_dir,
                lock_wait: self.lock_wait,
                running: Mutex::new(HashMap::new()),
                fence: OnceLock::new(),
                keeper: Mutex::new(None),
                admin_addr: self.admin,
                #[cfg(feature = "admin")]
                admin: Mutex::new(None),
                stopping: AtomicBool::new(false),
            }),
        })
    }
}

/// A bot: one handler serving one or many accounts.
pub struct Bot {
    accounts: Vec<Credentials>,
    inner: Arc<Inner>,
}

struct Inner {
    handler: Arc<dyn Handler>,
    options: Arc<BotOptions>,
    store: Mutex<StoreSource>,
    key_fn: KeyFn,
    http: Option<reqwest::Client>,
    events: broadcast::Sender<AccountEvent>,
    limiter: Arc<Semaphore>,
    /// Where account locks are taken; `None` without a state directory.
    lock_dir: Option<std::path::PathBuf>,
    lock_wait: Duration,
    running: Mutex<HashMap<AccountId, RunningAccount>>,
    /// A cluster worker's leases, set when it starts.
    fence: OnceLock<Arc<Fence>>,
    /// A cluster worker's lease keeper while it runs.
    keeper: Mutex<Option<KeeperHandle>>,
    /// Where to serve the admin endpoint, if anywhere.
    admin_addr: Option<SocketAddr>,
    /// The admin endpoint while it runs.
    #[cfg(feature = "admin")]
    admin: Mutex<Option<crate::admin::AdminServer>>,
    /// Set when shutdown begins (the bot is then not ready).
    stopping: AtomicBool,
}

/// The store, or where to open it: opening is async, so it waits for
/// [`Bot::start`].
enum StoreSource {
    Ready(Arc<dyn StateStore>),
    Dir(PathBuf),
    /// The cluster's database, connected by [`Bot::start`].
    Cluster(Cluster),
}

impl Inner {
    async fn store(&self) -> Result<Arc<dyn StateStore>, BotError> {
        let mut source = self.store.lock().await;
        let store: Arc<dyn StateStore> = match &*source {
            StoreSource::Ready(store) => store.clone(),
            StoreSource::Dir(dir) => Arc::new(SqliteStore::open(dir.clone()).await?),
            StoreSource::Cluster(_) => {
                return Err(BotError::Config(
                    "the cluster's database is connected when the bot starts".into(),
                ));
            }
        };
        *source = StoreSource::Ready(store.clone());
        Ok(store)
    }
}

struct RunningAccount {
    supervisor: ActorRef<SupervisorMsg>,
    shared: Arc<AccountShared>,
    /// Held until the account has stopped: dropped with this entry.
    _lock: Option<AccountLock>,
}

impl Drop for RunningAccount {
    /// A stopped account's gauges read zero: the exporter keeps serving the
    /// last value of a series, and an account that no longer runs here
    /// neither polls nor holds conversations.
    fn drop(&mut self) {
        self.shared.live.retire();
    }
}

impl Bot {
    /// Starts configuring a bot with its handler.
    pub fn builder(handler: impl Handler) -> BotBuilder {
        BotBuilder {
            handler: Arc::new(handler),
            accounts: Vec::new(),
            options: BotOptions::default(),
            store: None,
            state_dir: None,
            key_fn: Arc::new(default_key),
            http: None,
            lock_wait: Duration::ZERO,
            cluster: None,
            admin: None,
        }
    }

    /// Starts configuring a bot with its handler, running the accounts the
    /// environment and `ilink login` configure ([`Settings::from_env`]).
    ///
    /// ```no_run
    /// use ilink_framework::prelude::*;
    /// # struct Echo;
    /// # #[async_trait]
    /// # impl Handler for Echo {
    /// #     async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult { Ok(()) }
    /// # }
    ///
    /// # async fn demo() -> Result<(), BotError> {
    /// // ILINK_TOKEN and ILINK_ACCOUNT_ID, or the accounts `ilink login` saved.
    /// Bot::from_env(Echo).await?.build()?.run().await
    /// # }
    /// ```
    pub async fn from_env(handler: impl Handler) -> Result<BotBuilder, BotError> {
        Ok(Self::builder(handler).settings(Settings::from_env().await?))
    }

    /// Starts every configured account and returns a handle to the running bot.
    pub async fn start(self) -> Result<BotHandle, BotError> {
        let handle = BotHandle { inner: self.inner };
        let cluster = match &*handle.inner.store.lock().await {
            StoreSource::Cluster(cluster) => Some(cluster.clone()),
            _ => None,
        };
        if let Some(cluster) = cluster {
            return handle.join_cluster(cluster, self.accounts).await;
        }
        // A state directory that cannot be used stops the bot here, with
        // the store's own message, before any account starts.
        handle.inner.store().await?;
        // Before the accounts, so their metrics reach its recorder.
        handle.start_admin().await?;
        crate::instruments::describe();
        for creds in self.accounts {
            handle.add_account(creds).await?;
        }
        Ok(handle)
    }

    /// Runs until ctrl-c (or SIGTERM): the first drains handlers and sends
    /// within the shutdown deadline, then this returns `Ok`.
    ///
    /// A second signal during the drain abandons it and returns
    /// [`BotError::Interrupted`] at once; the caller decides what that means
    /// for the process (the `demo` binary exits with status 130, as shells
    /// expect after ctrl-c).
    pub async fn run(self) -> Result<(), BotError> {
        // Listening before the accounts start, so an early ctrl-c drains too.
        let signal = ShutdownSignal::new();
        let handle = self.start().await?;
        let report = handle.run_until(signal).await?;
        tracing::info!(
            unhandled = report.unhandled,
            unsent = report.unsent,
            "stopped"
        );
        Ok(())
    }
}

/// Controls a running [`Bot`]. Cheap to clone.
#[derive(Clone)]
pub struct BotHandle {
    inner: Arc<Inner>,
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
    async fn join_cluster(
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
        let shared = AccountShared::new(
            creds.account_id.clone(),
            client,
            self.inner.store().await?,
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
    async fn start_admin(&self) -> Result<(), BotError> {
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
    async fn start_admin(&self) -> Result<(), BotError> {
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

#[cfg(test)]
mod tests {
    use ilink_testkit::{SimConfig, Simulator};
    use tokio::sync::{Notify, mpsc};

    use super::*;
    use crate::context::Context;
    use crate::error::HandlerResult;

    /// Generous: only reached when something is broken.
    const WAIT: Duration = Duration::from_secs(60);

    /// Never finishes a message; says when it has started one.
    #[derive(Clone, Default)]
    struct Stuck {
        started: Arc<Notify>,
    }

    #[async_trait::async_trait]
    impl Handler for Stuck {
        async fn handle(&self, _ctx: &mut Context, _msg: Message) -> HandlerResult {
            self.started.notify_one();
            std::future::pending().await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_signal_during_the_drain_is_reported_not_fatal() {
        let sim = Simulator::start_with(SimConfig::for_tests()).await.unwrap();
        let bot = sim.add_account("stuck");
        let stuck = Stuck::default();
        // The drain could only end at this deadline, far beyond the guard.
        let options = BotOptions::default()
            .poll_timeout(Duration::from_secs(1))
            .shutdown_deadline(Duration::from_secs(3600));
        let handle = Bot::builder(stuck.clone())
            .account(
                Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                    .with_base_url(sim.base_url())
                    .with_cdn_base_url(sim.cdn_base_url()),
            )
            .options(options)
            .store(Arc::new(MemoryStore::new()))
            .build()
            .unwrap()
            .start()
            .await
            .unwrap();
        sim.user(&bot, "u@im.wechat").say("never done").await;
        tokio::time::timeout(WAIT, stuck.started.notified())
            .await
            .expect("the handler starts");

        let (signals, rx) = mpsc::unbounded_channel();
        signals.send(()).unwrap();
        signals.send(()).unwrap();
        let outcome =
            tokio::time::timeout(WAIT, handle.run_until(ShutdownSignal::from_channel(rx)))
                .await
                .expect("run_until returns instead of waiting for the drain");
        assert!(matches!(outcome, Err(BotError::Interrupted)), "{outcome:?}");
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn one_signal_drains_and_reports() {
        let handle = Bot::builder(Stuck::default())
            .build()
            .unwrap()
            .start()
            .await
            .unwrap();
        let (signals, rx) = mpsc::unbounded_channel();
        signals.send(()).unwrap();
        let report = handle
            .run_until(ShutdownSignal::from_channel(rx))
            .await
            .unwrap();
        assert_eq!((report.unhandled, report.unsent), (0, 0));
    }
}
