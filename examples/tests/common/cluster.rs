//! A cluster of `demo` worker processes on one PostgreSQL schema, serving
//! simulator accounts, for the tests that start, kill, pause and stop
//! workers while users write.

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command};
use std::time::Duration;

use ilink_framework::Credentials;
use ilink_framework::cluster::ClusterStatus;
use ilink_framework::store::pg_testing::TestSchema;
use ilink_framework::store::{PgStore, StateStore};
use ilink_testkit::harness::{WAIT, texts_to};
use ilink_testkit::{BotAccount, SentMessage, SimConfig, Simulator};

use super::process::start_running;

/// What the demo answers to a text.
pub const ECHO: &str = "Hello! You said: ";

/// The simulator, its accounts (saved in the schema) and the workers.
pub struct Fleet {
    pub sim: Simulator,
    pub bots: Vec<BotAccount>,
    pub schema: TestSchema,
    pub store: PgStore,
    pub workers: Vec<Child>,
    pub ttl: Duration,
    /// Texts sent so far: (account index, user index, text).
    pub said: Vec<(usize, usize, String)>,
    state: tempfile::TempDir,
}

impl Fleet {
    /// `accounts` simulator accounts saved in a new schema; `None` (the
    /// test is skipped, a line says why) without a test database.
    pub async fn new(test: &str, accounts: usize, ttl: Duration) -> Option<Self> {
        Self::with_config(test, accounts, ttl, SimConfig::for_tests()).await
    }

    /// As [`Fleet::new`], with a simulator configured by `config`.
    pub async fn with_config(
        test: &str,
        accounts: usize,
        ttl: Duration,
        config: SimConfig,
    ) -> Option<Self> {
        let schema = TestSchema::create(test).await?;
        let store = schema.store().await;
        let sim = Simulator::start_with(config)
            .await
            .expect("simulator starts");
        let mut bots = Vec::new();
        for a in 0..accounts {
            let bot = sim.add_account(&format!("bot{a:02}"));
            store
                .save_credentials(
                    &Credentials::new(bot.bot_id.as_str(), bot.token.clone())
                        .with_base_url(sim.base_url())
                        .with_cdn_base_url(sim.cdn_base_url()),
                )
                .await
                .unwrap();
            bots.push(bot);
        }
        Some(Self {
            sim,
            bots,
            schema,
            store,
            workers: Vec::new(),
            ttl,
            said: Vec::new(),
            state: tempfile::tempdir().unwrap(),
        })
    }

    /// The `demo` binary as a worker of this cluster.
    fn worker(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
        cmd.env("ILINK_DATABASE_URL", self.schema.url())
            .env("ILINK_LEASE_TTL_MS", self.ttl.as_millis().to_string())
            .env("ILINK_STATE_DIR", self.state.path())
            .env_remove("ILINK_TOKEN")
            .env_remove("ILINK_ACCOUNT_ID")
            .env_remove("ILINK_BASE_URL")
            // Fenced writes and lost leases are expected here; errors only.
            .env("RUST_LOG", "error");
        cmd
    }

    /// Starts one more worker and waits until it runs.
    pub fn start_worker(&mut self) -> usize {
        let cmd = self.worker();
        let child = tokio::task::block_in_place(|| start_running(cmd));
        self.workers.push(child);
        self.workers.len() - 1
    }

    /// The pid of worker `w`.
    pub fn pid(&self, w: usize) -> u32 {
        self.workers[w].id()
    }

    /// Sends `signal` (`-KILL`, `-STOP`, …) to worker `w`.
    pub fn signal(&self, w: usize, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid(w).to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// The cluster as the database has it.
    pub async fn status(&self) -> ClusterStatus {
        ClusterStatus::load(&self.store).await.unwrap()
    }

    /// Waits until `live` workers are alive and every account is held by
    /// one of them, none holding more than ⌈A/live⌉; returns the status.
    pub async fn settled(&self, live: usize) -> ClusterStatus {
        let share = self.bots.len().div_ceil(live);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let s = self.status().await;
            let alive = s.workers.iter().filter(|w| w.alive && !w.stopping).count();
            let all_held = s.accounts.iter().all(|a| a.held);
            let fair = s.workers.iter().all(|w| w.accounts <= share);
            if alive == live && all_held && fair {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the cluster did not settle on {live} workers: {s:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until each account of `accounts` has started more polls than
    /// `before` says it had.
    pub async fn polled_again(&self, accounts: &[String], before: &[u64]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        for (b, bot) in self.bots.iter().enumerate() {
            if !accounts.contains(&bot.bot_id) {
                continue;
            }
            while self.sim.poll_stats(bot).started <= before[b] {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} is not polled again",
                    bot.bot_id
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// How many polls each account has started so far.
    pub fn polls_started(&self) -> Vec<u64> {
        self.bots
            .iter()
            .map(|b| self.sim.poll_stats(b).started)
            .collect()
    }

    /// The accounts worker `w` holds now.
    pub async fn held_by(&self, w: usize) -> Vec<String> {
        let pid = self.pid(w);
        let s = self.status().await;
        let ids: HashSet<&str> = s
            .workers
            .iter()
            .filter(|x| x.pid == pid)
            .map(|x| x.id.as_str())
            .collect();
        s.accounts
            .iter()
            .filter(|a| a.worker.as_deref().is_some_and(|id| ids.contains(id)))
            .map(|a| a.account.clone())
            .collect()
    }

    /// Every user of every account says `per_user` more texts, round by
    /// round; then waits until every account has polled twice more, so
    /// every text is in some worker's inbox.
    pub async fn say_round(&mut self, users: usize, per_user: usize) {
        let polled: Vec<u64> = self
            .bots
            .iter()
            .map(|b| self.sim.poll_stats(b).started)
            .collect();
        for _ in 0..per_user {
            for (a, bot) in self.bots.iter().enumerate() {
                for u in 0..users {
                    let text = format!("a{a:02} u{u:02} #{}", self.said.len());
                    self.sim.user(bot, &user_id(u)).say(text.clone()).await;
                    self.said.push((a, u, text));
                }
            }
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        for (bot, before) in self.bots.iter().zip(polled) {
            while self.sim.poll_stats(bot).started < before + 2 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} is not polled",
                    bot.bot_id
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Waits until every text said so far has a reply.
    pub async fn all_answered(&self) {
        let wanted: HashSet<(String, String)> = self
            .said
            .iter()
            .map(|(a, _, text)| (self.bots[*a].bot_id.clone(), format!("{ECHO}{text}")))
            .collect();
        let n = wanted.len();
        self.sim
            .wait_for(&format!("{n} replies"), WAIT, |sent: &[SentMessage]| {
                let got: HashSet<(String, String)> = sent
                    .iter()
                    .filter(|s| s.delivered())
                    .filter_map(|s| Some((s.bot_id.clone(), s.text()?)))
                    .filter(|k| wanted.contains(k))
                    .collect();
                (got.len() == n).then_some(())
            })
            .await
            .expect("every text is answered");
    }

    /// Replies users got twice, and conversations whose first replies came
    /// out of the order of their texts.
    pub fn doubles_and_disorder(&self) -> (usize, BTreeMap<String, Vec<String>>) {
        let mut twice = 0;
        let mut disorder = BTreeMap::new();
        let mut users: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
        for (a, u, text) in &self.said {
            users
                .entry((*a, *u))
                .or_default()
                .push(format!("{ECHO}{text}"));
        }
        for ((a, u), said) in users {
            let replies = texts_to(&self.sim, &self.bots[a], &user_id(u));
            let mut firsts: Vec<String> = Vec::new();
            for r in replies {
                if firsts.contains(&r) {
                    twice += 1;
                } else {
                    firsts.push(r);
                }
            }
            let order: Vec<usize> = firsts
                .iter()
                .filter_map(|r| said.iter().position(|s| s == r))
                .collect();
            if !order.is_sorted() {
                disorder.insert(format!("{} {}", self.bots[a].bot_id, user_id(u)), firsts);
            }
        }
        (twice, disorder)
    }

    /// Stops every worker still running (SIGINT, then waits).
    pub fn stop_all(&mut self) {
        for w in &mut self.workers {
            if matches!(w.try_wait(), Ok(None)) {
                let _ = Command::new("kill")
                    .args(["-CONT", &w.id().to_string()])
                    .status();
                let _ = Command::new("kill")
                    .args(["-INT", &w.id().to_string()])
                    .status();
            }
        }
        for w in &mut self.workers {
            let _ = tokio::task::block_in_place(|| w.wait());
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // A failed test must not leave workers behind.
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

pub fn user_id(u: usize) -> String {
    format!("user{u:02}@im.wechat")
}
