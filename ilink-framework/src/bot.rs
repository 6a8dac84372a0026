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
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ilink_core::ILinkClient;
use ilink_core::config::{DEFAULT_BASE_URL, DEFAULT_CDN_BASE_URL};
use ractor::{Actor, ActorRef};
use tokio::sync::{Mutex, Semaphore, broadcast};

use crate::account::{AccountId, Credentials};
use crate::actors::shared::{AccountShared, EventSink};
use crate::actors::supervisor::{AccountArgs, AccountSupervisor, ShutdownReport, SupervisorMsg};
use crate::conversation::{ConversationKey, KeyFn, default_key};
use crate::error::BotError;
use crate::events::AccountEvent;
use crate::handler::Handler;
use crate::message::Message;
use crate::options::BotOptions;
use crate::signal::ShutdownSignal;
use crate::store::{MemoryStore, SqliteStore, StateStore};

/// Configures a [`Bot`].
pub struct BotBuilder {
    handler: Arc<dyn Handler>,
    accounts: Vec<Credentials>,
    options: BotOptions,
    store: Option<Arc<dyn StateStore>>,
    state_dir: Option<PathBuf>,
    key_fn: KeyFn,
    http: Option<reqwest::Client>,
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

    /// Runtime settings.
    pub fn options(mut self, options: BotOptions) -> Self {
        self.options = options;
        self
    }

    /// Keeps state (cursors, inbox, tokens, dedup keys) in the SQLite
    /// database `dir/ilink.db`, opened when the bot starts.
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

    /// The HTTP client to use for every account.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the configuration and builds the bot.
    pub fn build(self) -> Result<Bot, BotError> {
        self.options.validate().map_err(BotError::Config)?;
        let store = match (self.store, self.state_dir) {
            (Some(s), _) => StoreSource::Ready(s),
            (None, Some(dir)) => StoreSource::Dir(dir),
            (None, None) => {
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
                running: Mutex::new(HashMap::new()),
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
    running: Mutex<HashMap<AccountId, RunningAccount>>,
}

/// The store, or where to open it: opening is async, so it waits for
/// [`Bot::start`].
enum StoreSource {
    Ready(Arc<dyn StateStore>),
    Dir(PathBuf),
}

impl Inner {
    async fn store(&self) -> Result<Arc<dyn StateStore>, BotError> {
        let mut source = self.store.lock().await;
        let store: Arc<dyn StateStore> = match &*source {
            StoreSource::Ready(store) => store.clone(),
            StoreSource::Dir(dir) => Arc::new(SqliteStore::open(dir.clone()).await?),
        };
        *source = StoreSource::Ready(store.clone());
        Ok(store)
    }
}

struct RunningAccount {
    supervisor: ActorRef<SupervisorMsg>,
    shared: Arc<AccountShared>,
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
        }
    }

    /// Starts every configured account and returns a handle to the running bot.
    pub async fn start(self) -> Result<BotHandle, BotError> {
        let handle = BotHandle { inner: self.inner };
        // A state directory that cannot be used stops the bot here, with
        // the store's own message, before any account starts.
        handle.inner.store().await?;
        for creds in self.accounts {
            handle.add_account(creds).await?;
        }
        Ok(handle)
    }

    /// Runs until ctrl-c (or SIGTERM): the first drains handlers and sends
    /// within the shutdown deadline, a second one exits at once.
    pub async fn run(self) -> Result<(), BotError> {
        // Listening before the accounts start, so an early ctrl-c drains too.
        let signal = ShutdownSignal::new();
        let handle = self.start().await?;
        let report = handle.run_until(signal).await;
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

    /// Starts an account while the bot runs.
    pub async fn add_account(&self, creds: Credentials) -> Result<(), BotError> {
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
            EventSink::new(self.inner.events.clone(), self.inner.handler.clone()),
        );
        let args = AccountArgs {
            shared: shared.clone(),
            handler: self.inner.handler.clone(),
            limiter: self.inner.limiter.clone(),
            key_fn: self.inner.key_fn.clone(),
        };
        let (supervisor, _) = Actor::spawn(None, AccountSupervisor, args)
            .await
            .map_err(|e| BotError::Spawn {
                actor: "account supervisor",
                message: e.to_string(),
            })?;
        running.insert(creds.account_id, RunningAccount { supervisor, shared });
        Ok(())
    }

    /// Stops an account in order (drain, flush, notifystop) and forgets it.
    pub async fn remove_account(&self, account: &AccountId) -> Result<ShutdownReport, BotError> {
        let entry = self
            .inner
            .running
            .lock()
            .await
            .remove(account)
            .ok_or_else(|| BotError::UnknownAccount(account.clone()))?;
        Ok(stop_account(entry, self.inner.options.shutdown_deadline).await)
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

    /// Account events from now on.
    pub fn events(&self) -> broadcast::Receiver<AccountEvent> {
        self.inner.events.subscribe()
    }

    /// Waits for ctrl-c or SIGTERM, then shuts down in order; a second signal
    /// during the drain exits the process at once (status 130).
    pub async fn run_until_signal(&self) -> ShutdownReport {
        self.run_until(ShutdownSignal::new()).await
    }

    /// Like [`BotHandle::run_until_signal`], with a signal listener created
    /// earlier (e.g. before telling the user to press ctrl-c).
    pub async fn run_until(&self, mut signal: ShutdownSignal) -> ShutdownReport {
        signal.recv().await;
        tracing::info!("shutting down; press ctrl-c again to quit at once");
        tokio::select! {
            report = self.shutdown() => report,
            _ = signal.recv() => {
                tracing::warn!("second signal: quitting without draining");
                std::process::exit(130);
            }
        }
    }

    /// Stops every account in order; returns the summed report.
    pub async fn shutdown(&self) -> ShutdownReport {
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
        reports
            .into_iter()
            .fold(ShutdownReport::default(), |acc, r| ShutdownReport {
                unhandled: acc.unhandled + r.unhandled,
                unsent: acc.unsent + r.unsent,
            })
    }
}

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
