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

mod builder;
mod handle;

pub use builder::BotBuilder;
pub use handle::BotHandle;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::{Mutex, Semaphore, broadcast};

use crate::account::{AccountId, Credentials};
use crate::account_lock::AccountLock;
use crate::account_shared::AccountShared;
use crate::cluster::{Cluster, Fence, KeeperHandle};
use crate::conversation::KeyFn;
use crate::error::BotError;
use crate::events::AccountEvent;
use crate::handler::Handler;
use crate::options::BotOptions;
use crate::settings::Settings;
use crate::signal::ShutdownSignal;
use crate::store::{Durability, SqliteStore, StateStore};
use crate::supervisor::SupervisorMsg;

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
    /// The SQLite database of a state directory, opened by [`Bot::start`].
    Dir(PathBuf, Durability),
    /// The cluster's database, connected by [`Bot::start`].
    Cluster(Cluster),
}

impl Inner {
    async fn store(&self) -> Result<Arc<dyn StateStore>, BotError> {
        let mut source = self.store.lock().await;
        let store: Arc<dyn StateStore> = match &*source {
            StoreSource::Ready(store) => store.clone(),
            StoreSource::Dir(dir, durability) => {
                Arc::new(SqliteStore::open_with(dir.clone(), *durability).await?)
            }
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
        BotBuilder::new(Arc::new(handler))
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

#[cfg(test)]
mod tests {
    use ilink_testkit::{SimConfig, Simulator};
    use tokio::sync::{Notify, mpsc};

    use super::*;
    use crate::context::Context;
    use crate::error::HandlerResult;
    use crate::message::Message;
    use crate::store::MemoryStore;

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
    async fn a_state_directory_is_opened_with_the_durability_of_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::new(Vec::new(), dir.path());
        settings.durability = Durability::Normal;
        let bot = Bot::builder(Stuck::default())
            .settings(settings)
            .build()
            .unwrap();
        let source = bot.inner.store.lock().await;
        assert!(
            matches!(&*source, StoreSource::Dir(d, Durability::Normal) if d == dir.path()),
            "the builder kept the settings' durability"
        );
        drop(source);
        // And by default the level that survives a power loss.
        let bot = Bot::builder(Stuck::default())
            .state_dir(dir.path())
            .build()
            .unwrap();
        let source = bot.inner.store.lock().await;
        assert!(matches!(&*source, StoreSource::Dir(_, Durability::Full)));
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
