//! [`Target`]: where an example runs. With accounts configured (the
//! `ILINK_*` variables or `ilink login`, read by the framework's
//! [`Settings::from_env`]) it serves real users; with none, it starts the
//! embedded simulator, and a scripted user chats with the bot so there is
//! something to see.
//!
//! An example's `main` starts its bot as any bot starts, with
//! [`Settings`] from here instead of
//! [`Bot::from_env`](ilink_framework::Bot::from_env):
//!
//! ```no_run
//! use ilink_examples::Target;
//! use ilink_examples::playground::Script;
//! use ilink_framework::prelude::*;
//!
//! struct Hello;
//!
//! #[async_trait]
//! impl Handler for Hello {
//!     async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
//!         ctx.reply("hello").await?;
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), ilink_examples::ExampleError> {
//!     let target = Target::from_env(&["demo"]).await?;
//!     target.play(Script::new().say("alice@im.wechat", "hi", 1));
//!     Bot::builder(Hello).settings(target.settings()).build()?.run().await?;
//!     target.stop().await;
//!     Ok(())
//! }
//! ```

use std::sync::{Arc, Mutex};

use ilink_framework::store::Durability;
use ilink_framework::{Settings, SettingsError};
use ilink_testkit::SimConfig;
use tokio::task::JoinHandle;

use crate::ExampleError;
use crate::logging::init_logging;
use crate::playground::{Playground, Script};

/// What an example runs against.
pub enum Target {
    /// The accounts the environment and `ilink login` configure.
    Configured(Settings),
    /// The embedded simulator on 127.0.0.1; nothing leaves the machine.
    Simulator(Simulated),
}

/// The embedded simulator, its scripted conversation and the bot's state.
pub struct Simulated {
    playground: Arc<Playground>,
    // The simulator forgets its accounts when the process ends, so their
    // state is only kept for the run.
    state_dir: tempfile::TempDir,
    /// `ILINK_ADMIN_ADDR`, which configured accounts read with the rest.
    admin_addr: Option<std::net::SocketAddr>,
    /// `ILINK_DURABILITY`, likewise.
    durability: Durability,
    script: Mutex<Option<JoinHandle<()>>>,
}

impl Target {
    /// Sets up logging and reads the configuration; when nothing is
    /// configured, starts a simulator with an account per name in
    /// `sim_accounts`. Prints where the bot runs.
    pub async fn from_env(sim_accounts: &[&str]) -> Result<Self, ExampleError> {
        init_logging();
        let target = match Settings::from_env().await {
            Ok(settings) => Self::Configured(settings),
            // A base URL without credentials is a mistake, not a wish for
            // the simulator: report it.
            Err(SettingsError::NoAccounts { .. }) if !base_url_set() => {
                // Real-server timing (35 s long-polls, burst throttling), so
                // the example behaves as it would in production.
                let admin_addr = Settings::admin_addr_from(|k| std::env::var(k).ok())?;
                let durability = Settings::durability_from(|k| std::env::var(k).ok())?;
                let playground = Playground::start(SimConfig::default(), sim_accounts).await?;
                Self::Simulator(Simulated {
                    playground: Arc::new(playground),
                    state_dir: tempfile::tempdir()?,
                    admin_addr,
                    durability,
                    script: Mutex::new(None),
                })
            }
            Err(e) => return Err(e.into()),
        };
        crate::outln!("{}", target.banner());
        Ok(target)
    }

    /// The accounts to run and where their state lives.
    pub fn settings(&self) -> Settings {
        match self {
            Self::Configured(settings) => settings.clone(),
            Self::Simulator(sim) => {
                let mut settings =
                    Settings::new(sim.playground.credentials(), sim.state_dir.path());
                settings.admin_addr = sim.admin_addr;
                settings.durability = sim.durability;
                settings
            }
        }
    }

    /// The simulator, when there is one.
    pub fn playground(&self) -> Option<&Playground> {
        match self {
            Self::Configured(_) => None,
            Self::Simulator(sim) => Some(&sim.playground),
        }
    }

    /// Plays `script` against the simulator in the background, printing the
    /// conversation, then how to stop. With configured accounts real people
    /// write, so it only prints how to stop.
    pub fn play(&self, script: Script) {
        let Self::Simulator(sim) = self else {
            crate::outln!("{STOP_HINT}");
            return;
        };
        let playground = sim.playground.clone();
        let task = tokio::spawn(async move {
            crate::outln!("\n--- scripted conversation ---");
            playground.play(&script).await;
            crate::outln!("--- end of the script; the bot keeps running ---");
            crate::outln!("{STOP_HINT}");
        });
        *sim.script.lock().expect("script lock") = Some(task);
    }

    /// Once the bot has stopped: says whether the simulator received
    /// `notifystop` from every account, and stops it.
    pub async fn stop(self) {
        let Self::Simulator(sim) = self else {
            return;
        };
        let script = sim.script.lock().expect("script lock").take();
        if let Some(task) = script {
            task.abort();
            // Waits until the task has let go of the playground.
            let _ = task.await;
        }
        if sim.playground.saw_notifystop() {
            crate::outln!("The simulator received notifystop from every account.");
        } else {
            crate::outln!("The simulator did not receive notifystop from every account.");
        }
        if let Ok(playground) = Arc::try_unwrap(sim.playground) {
            playground.shutdown().await;
        }
    }

    /// Where the bot runs, for people.
    fn banner(&self) -> String {
        match self {
            Self::Simulator(sim) => sim.playground.banner(),
            Self::Configured(settings) if settings.cluster.is_some() => {
                "Running as a cluster worker: the accounts are the database's, shared \
                 with the other workers"
                    .to_owned()
            }
            Self::Configured(settings) => {
                // Ids and hosts only: tokens are secrets.
                let mut out = format!(
                    "Running {} account(s); state in {}",
                    settings.accounts.len(),
                    settings.state_dir.display()
                );
                for c in &settings.accounts {
                    out.push_str(&format!(
                        "\n  {} at {}",
                        c.account_id,
                        c.base_url
                            .as_deref()
                            .unwrap_or(ilink_framework::core::config::DEFAULT_BASE_URL)
                    ));
                }
                out
            }
        }
    }
}

/// Whether `ILINK_BASE_URL` has a value (empty counts as unset, as for
/// [`Settings`]).
fn base_url_set() -> bool {
    std::env::var(Settings::BASE_URL_VAR).is_ok_and(|v| !v.trim().is_empty())
}

const STOP_HINT: &str = "Press ctrl-c to stop (a second ctrl-c quits without draining).";
