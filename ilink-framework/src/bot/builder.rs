//! [`BotBuilder`]: what a [`Bot`] runs, on what store, and how.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore, broadcast};

use crate::account::Credentials;
use crate::cluster::Cluster;
use crate::conversation::{ConversationKey, KeyFn, default_key};
use crate::error::BotError;
use crate::handler::Handler;
use crate::message::Message;
use crate::options::BotOptions;
use crate::settings::Settings;
use crate::store::{Durability, MemoryStore, StateStore};

use super::{Bot, Inner, StoreSource};

/// Configures a [`Bot`].
pub struct BotBuilder {
    handler: Arc<dyn Handler>,
    accounts: Vec<Credentials>,
    options: BotOptions,
    store: Option<Arc<dyn StateStore>>,
    state_dir: Option<PathBuf>,
    durability: Durability,
    key_fn: KeyFn,
    http: Option<reqwest::Client>,
    lock_wait: Duration,
    cluster: Option<Cluster>,
    admin: Option<SocketAddr>,
}

impl BotBuilder {
    /// A builder with the defaults, for [`Bot::builder`].
    pub(super) fn new(handler: Arc<dyn Handler>) -> Self {
        Self {
            handler,
            accounts: Vec::new(),
            options: BotOptions::default(),
            store: None,
            state_dir: None,
            durability: Durability::default(),
            key_fn: Arc::new(default_key),
            http: None,
            lock_wait: Duration::ZERO,
            cluster: None,
            admin: None,
        }
    }

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

    /// Runs the accounts of `settings` and keeps state in its directory,
    /// with its durability; serves the admin endpoint on its address, when
    /// it has one.
    ///
    /// Settings naming a cluster ([`Settings::cluster`]) make the bot a
    /// worker of that cluster instead, with no state directory.
    pub fn settings(mut self, settings: Settings) -> Self {
        if let Some(addr) = settings.admin_addr {
            self.admin = Some(addr);
        }
        self.durability = settings.durability;
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
    /// port ([`BotHandle::admin_addr`](crate::BotHandle::admin_addr) says which).
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

    /// What a commit of the database opened from [`BotBuilder::state_dir`]
    /// survives (default [`Durability::Full`]; see docs/deployment.md). A
    /// store given to [`BotBuilder::store`] keeps the level it was opened
    /// with.
    ///
    /// ```no_run
    /// use ilink_framework::prelude::*;
    /// use ilink_framework::store::Durability;
    ///
    /// # async fn demo(handler: impl Handler) -> Result<(), BotError> {
    /// Bot::builder(handler)
    ///     .state_dir("/var/lib/mybot")
    ///     // The disk is battery-backed: a power loss cannot undo a commit.
    ///     .durability(Durability::Normal)
    ///     .build()?
    ///     .run()
    ///     .await
    /// # }
    /// ```
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
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
            (None, Some(dir), None) => StoreSource::Dir(dir, self.durability),
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
