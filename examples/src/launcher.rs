//! [`Launch`]: what every example does around its handler — pick the
//! target (real accounts or the embedded simulator), start the bot, play
//! the scripted conversation in simulator mode, then run until ctrl-c or
//! SIGTERM and shut down cleanly (drain, flush, notifystop).
//!
//! Most examples need only [`launch`]; `multi_account` uses the pieces.

use std::sync::Arc;

use ilink_framework::prelude::*;
use ilink_framework::store::MemoryStore;
use ilink_framework::{BotBuilder, ShutdownReport, ShutdownSignal};
use ilink_testkit::SimConfig;

use crate::LaunchError;
use crate::playground::{Playground, Script, Transcript};
use crate::settings::{self, Target};

/// Runs `handler` the way every example does: see [`Launch`].
///
/// ```no_run
/// use ilink_examples::playground::Script;
/// use ilink_framework::prelude::*;
///
/// struct Hello;
///
/// #[async_trait]
/// impl Handler for Hello {
///     async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
///         ctx.reply("hello").await?;
///         Ok(())
///     }
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), ilink_examples::LaunchError> {
///     ilink_examples::launch(Hello, Script::new().say("alice@im.wechat", "hi", 1)).await
/// }
/// ```
pub async fn launch(handler: impl Handler, script: Script) -> Result<(), LaunchError> {
    let launch = Launch::from_env(&["demo"]).await?;
    let handle = launch
        .builder(handler)
        .accounts(launch.credentials())
        .build()?
        .start()
        .await?;
    launch.play(&script).await;
    launch.until_stopped(handle).await
}

/// The target an example runs against, decided from the environment
/// (see [`settings`]).
pub enum Launch {
    /// The embedded simulator with its accounts.
    Simulator(Playground),
    /// Real accounts.
    Real {
        /// Their credentials.
        accounts: Vec<Credentials>,
        /// Where their state is kept.
        state_dir: std::path::PathBuf,
    },
}

impl Launch {
    /// Sets up logging, reads the environment, and in simulator mode starts
    /// a simulator with an account per name in `sim_accounts`. Prints where
    /// the bot runs.
    pub async fn from_env(sim_accounts: &[&str]) -> Result<Self, LaunchError> {
        init_logging();
        let launch = match settings::from_env().await? {
            // Real-server timing (35 s long-polls, burst throttling), so the
            // example behaves as it would in production.
            Target::Simulator => {
                Self::Simulator(Playground::start(SimConfig::default(), sim_accounts).await?)
            }
            Target::Real {
                accounts,
                state_dir,
            } => Self::Real {
                accounts,
                state_dir,
            },
        };
        println!("{}", launch.banner());
        Ok(launch)
    }

    /// Where the bot runs, for people.
    pub fn banner(&self) -> String {
        match self {
            Self::Simulator(playground) => playground.banner(),
            Self::Real {
                accounts,
                state_dir,
            } => {
                // Ids and hosts only: tokens are secrets.
                let mut out = format!(
                    "Running {} account(s); state in {}",
                    accounts.len(),
                    state_dir.display()
                );
                for c in accounts {
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

    /// The accounts to run.
    pub fn credentials(&self) -> Vec<Credentials> {
        match self {
            Self::Simulator(playground) => playground.credentials(),
            Self::Real { accounts, .. } => accounts.clone(),
        }
    }

    /// The simulator, in simulator mode.
    pub fn playground(&self) -> Option<&Playground> {
        match self {
            Self::Simulator(playground) => Some(playground),
            Self::Real { .. } => None,
        }
    }

    /// A bot builder for `handler` with the right store: the state directory
    /// for real accounts, memory for the simulator (it forgets everything
    /// when the process ends anyway).
    pub fn builder(&self, handler: impl Handler) -> BotBuilder {
        let builder = Bot::builder(handler);
        match self {
            Self::Simulator(_) => builder.store(Arc::new(MemoryStore::new())),
            Self::Real { state_dir, .. } => builder.state_dir(state_dir.clone()),
        }
    }

    /// Plays `script` against the simulator and prints the transcript; does
    /// nothing for real accounts (real people write to them).
    pub async fn play(&self, script: &Script) -> Option<Transcript> {
        let playground = self.playground()?;
        println!("\n--- scripted conversation ---");
        let transcript = playground.play(script).await;
        println!("--- end of the script; the bot keeps running ---");
        Some(transcript)
    }

    /// Waits for ctrl-c or SIGTERM, then shuts the bot down cleanly; a second
    /// signal quits at once.
    pub async fn until_stopped(self, handle: BotHandle) -> Result<(), LaunchError> {
        // Listening before the prompt: a ctrl-c right after it must drain.
        let signal = ShutdownSignal::new();
        println!("Press ctrl-c to stop (a second ctrl-c quits without draining).");
        let report = handle.run_until(signal).await;
        self.report(&report).await;
        Ok(())
    }

    async fn report(self, report: &ShutdownReport) {
        println!(
            "Stopped: {} message(s) left unhandled, {} unsent.",
            report.unhandled, report.unsent
        );
        if let Self::Simulator(playground) = self {
            if playground.saw_notifystop() {
                println!("The simulator received notifystop from every account.");
            } else {
                println!("The simulator did not receive notifystop from every account.");
            }
            playground.shutdown().await;
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings), so stdout
/// stays the transcript.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A second call (tests, several launches) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
