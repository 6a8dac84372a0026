//! What runs in the process under test: the framework bot with a benchmark
//! handler, and the raw ilink-core baselines (no actors) it is compared with.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ilink_core::ILinkClient;
use ilink_framework::prelude::*;
use ilink_framework::store::{Durability, MemoryStore, SqliteStore, StateStore};
use tokio::sync::{Semaphore, watch};

use crate::measure::now_ns;
use crate::sim::Account;

/// Counters shared by a handler (or baseline) and the scenario driving it.
#[derive(Clone, Default)]
pub struct Counters {
    /// Messages whose reply call returned (delivered or failed).
    pub done: Arc<AtomicU64>,
    /// Replies that failed.
    pub failed: Arc<AtomicU64>,
    /// Conversations started minus conversations ended (live sessions).
    pub live: Arc<AtomicI64>,
    /// Enqueue-to-handler-start latencies in µs, when recorded.
    pub starts: Option<Arc<Mutex<Vec<u64>>>>,
}

impl Counters {
    /// Counters that also record handler-start latencies.
    pub fn with_latency() -> Self {
        Self {
            starts: Some(Arc::default()),
            ..Self::default()
        }
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn record_start(&self, text: Option<&str>) {
        let (Some(starts), Some(t)) = (&self.starts, text.and_then(|t| t.parse::<u128>().ok()))
        else {
            return;
        };
        let us = (now_ns().saturating_sub(t) / 1000) as u64;
        starts.lock().unwrap_or_else(|e| e.into_inner()).push(us);
    }

    fn finish(&self, ok: bool) {
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// The recorded start latencies, sorted.
    pub fn sorted_starts(&self) -> Vec<u64> {
        let mut v = self
            .starts
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }
}

/// Echoes the text after `delay` (zero: at once).
pub struct BenchHandler {
    pub delay: Duration,
    pub counters: Counters,
}

impl BenchHandler {
    /// A handler that replies at once, counting into `counters`.
    pub fn instant(counters: Counters) -> Self {
        Self {
            delay: Duration::ZERO,
            counters,
        }
    }
}

#[async_trait]
impl Handler for BenchHandler {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        self.counters.record_start(msg.text());
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let ok = ctx.reply(msg.text().unwrap_or("?")).await.is_ok();
        self.counters.finish(ok);
        Ok(())
    }

    async fn on_conversation_start(&self, _ctx: &mut Context) -> HandlerResult {
        self.counters.live.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn on_conversation_end(&self, _a: &AccountId, _c: &ConversationKey) {
        self.counters.live.fetch_sub(1, Ordering::Relaxed);
    }
}

use ilink_framework::ConversationKey;

/// Options for throughput runs: the quota and pacing are out of the way
/// (the simulator's are off too), everything else is the default unless a
/// scenario says otherwise.
pub fn bench_options() -> BotOptions {
    BotOptions::default()
        .quota_per_context(1_000_000)
        // The default pacing window (lanes live as long as in production);
        // the burst is what takes pacing out of the way.
        .pacing_burst(1_000_000)
        .shutdown_deadline(Duration::from_secs(10))
}

/// Where the bot under test keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// What every real bot uses: `SqliteStore` in a fresh state directory
    /// with the default durability (every commit fsynced).
    Durable,
    /// `MemoryStore`: nothing survives the process.
    Memory,
}

/// A running bot under test and the store it writes to.
pub struct BenchBot {
    handle: BotHandle,
    sqlite: Option<Arc<SqliteStore>>,
    /// Removed (with the database) when the bot is dropped.
    _dir: Option<tempfile::TempDir>,
}

impl BenchBot {
    /// Write transactions the durable store committed so far (0 in memory).
    pub fn transactions(&self) -> u64 {
        self.sqlite.as_ref().map_or(0, |s| s.transactions())
    }

    /// Commits and checkpoints the durable store fsynced so far (0 in memory).
    pub fn fsyncs(&self) -> u64 {
        self.sqlite.as_ref().map_or(0, |s| s.fsyncs())
    }

    /// Stops the bot and closes its database.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
        if let Some(store) = &self.sqlite {
            store.close().await;
        }
    }
}

/// A fresh state directory under the system temp dir (`TMPDIR`), which must
/// be on a real disk for the durable figures to mean anything (not tmpfs).
pub fn state_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ilink-bench-")
        .tempdir()
        .expect("temporary state directory")
}

/// These accounts' credentials, pointed at the simulator.
pub fn credentials(base_url: &str, accounts: &[Account]) -> Vec<Credentials> {
    accounts
        .iter()
        .map(|a| {
            Credentials::new(a.bot_id.as_str(), a.token.clone())
                .with_base_url(base_url)
                .with_cdn_base_url(format!("{base_url}/c2c"))
        })
        .collect()
}

/// Starts a bot on these accounts with a fresh store of `kind`.
pub async fn start_bot(
    base_url: &str,
    accounts: &[Account],
    handler: BenchHandler,
    options: BotOptions,
    kind: StoreKind,
) -> BenchBot {
    let builder = Bot::builder(handler)
        .accounts(credentials(base_url, accounts))
        .options(options);
    let (builder, sqlite, dir) = match kind {
        StoreKind::Durable => {
            let dir = state_dir();
            // Opened here rather than by the builder only to read its
            // transaction count; the state directory also takes the
            // account locks, as for a real bot.
            // `ILINK_BENCH_DURABILITY=normal` measures the other level.
            let durability = match std::env::var("ILINK_BENCH_DURABILITY").as_deref() {
                Ok("normal") => Durability::Normal,
                _ => Durability::default(),
            };
            let store = Arc::new(
                SqliteStore::open_with(dir.path(), durability)
                    .await
                    .expect("store opens"),
            );
            let builder = builder
                .state_dir(dir.path())
                .store(store.clone() as Arc<dyn StateStore>);
            (builder, Some(store), Some(dir))
        }
        StoreKind::Memory => (builder.store(Arc::new(MemoryStore::new())), None, None),
    };
    let handle = builder
        .build()
        .expect("bot builds")
        .start()
        .await
        .expect("bot starts");
    BenchBot {
        handle,
        sqlite,
        _dir: dir,
    }
}

fn client(base_url: &str, acct: &Account) -> ILinkClient {
    ILinkClient::builder(base_url, acct.token.clone())
        .build()
        .expect("client builds")
}

/// The raw baseline: one poll loop; every message gets a task that waits
/// `delay`, then replies with a send permit held only for the request
/// (`concurrency` permits, like the framework's `max_concurrent_sends`). No
/// actors, no order per conversation, no inbox, no dedup.
pub fn spawn_raw(
    base_url: &str,
    acct: &Account,
    concurrency: usize,
    delay: Duration,
    counters: Counters,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let client = client(base_url, acct);
    let permits = Arc::new(Semaphore::new(concurrency));
    tokio::spawn(async move {
        loop {
            let resp = tokio::select! {
                r = client.poll() => r,
                _ = stop.changed() => break,
            };
            let Ok(resp) = resp else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            for m in resp.msgs {
                let (client, permits, counters) =
                    (client.clone(), permits.clone(), counters.clone());
                tokio::spawn(async move {
                    let text = m.text();
                    counters.record_start(text.as_deref());
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let ok = match permits.acquire().await {
                        Ok(_permit) => client
                            .send_text(
                                m.from_user_id.as_deref().unwrap_or_default(),
                                text.as_deref().unwrap_or("?"),
                                m.context_token.as_ref(),
                            )
                            .await
                            .is_ok(),
                        Err(_) => false,
                    };
                    counters.finish(ok);
                });
            }
        }
    })
}

/// The seed SDK's loop: poll, then handle and reply to each message in turn.
pub async fn seed_loop(
    base_url: &str,
    acct: &Account,
    delay: Duration,
    total: u64,
    counters: Counters,
) {
    let client = client(base_url, acct);
    while counters.done() < total {
        let Ok(resp) = client.poll().await else {
            continue;
        };
        for m in resp.msgs {
            tokio::time::sleep(delay).await;
            let text = m.text();
            let ok = client
                .send_text(
                    m.from_user_id.as_deref().unwrap_or_default(),
                    text.as_deref().unwrap_or("?"),
                    m.context_token.as_ref(),
                )
                .await
                .is_ok();
            counters.finish(ok);
        }
    }
}

/// Idle raw long-poll loops, one per account, each with its own client (as
/// the framework builds one per account).
pub fn spawn_idle_pollers(
    base_url: &str,
    accounts: &[Account],
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    accounts
        .iter()
        .map(|a| {
            let client = client(base_url, a);
            let mut stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = client.poll() => {}
                        _ = stop.changed() => break,
                    }
                }
            })
        })
        .collect()
}
