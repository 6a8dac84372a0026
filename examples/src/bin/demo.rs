//! The demo bot of the README: `cargo run --bin demo`.
//!
//! It answers texts, a `/add` command and pictures. Without credentials it
//! starts the simulator in this process, has a scripted user chat with the
//! bot, prints the transcript, and keeps running until ctrl-c. With
//! credentials (`ilink login`, or `ILINK_TOKEN` and `ILINK_ACCOUNT_ID`) the
//! same command serves real WeChat users.

use std::process::ExitCode;

use ilink_examples::outln;
use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, TINY_PNG, Target};
use ilink_framework::ShutdownSignal;
use ilink_framework::prelude::*;

/// Greets, adds numbers and looks at pictures.
struct DemoBot;

#[async_trait]
impl Handler for DemoBot {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        ctx.typing();
        if let Some(image) = msg.media_items().first() {
            let bytes = ctx.download(image).await?;
            ctx.reply(format!("Nice picture! It is {} bytes.", bytes.len()))
                .await?;
            return Ok(());
        }
        let text = msg.text().unwrap_or_default().trim();
        let reply = match text.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["/add", a, b] => match (a.parse::<i64>(), b.parse::<i64>()) {
                (Ok(a), Ok(b)) => format!("{a} + {b} = {}", a.saturating_add(b)),
                _ => "Usage: /add <a> <b> (two integers)".to_owned(),
            },
            ["/help"] => "I know /add <a> <b>; send me a text or a picture too.".to_owned(),
            [cmd, ..] if cmd.starts_with('/') => {
                format!("I don't know {cmd}; try /help.")
            }
            _ => format!("Hello! You said: {text}"),
        };
        ctx.reply(reply).await?;
        Ok(())
    }
}

/// The scripted user's side of the conversation, in simulator mode.
fn script() -> Script {
    Script::new()
        .say("alice@im.wechat", "hi there", 1)
        .say("alice@im.wechat", "/add 2 40", 1)
        .image("alice@im.wechat", TINY_PNG, 1)
}

/// Exit status when another process polls the account (as `ilink`'s).
const ACCOUNT_LOCKED: u8 = 6;
/// Exit status when the state directory or database cannot be used as it
/// is: not a directory, not writable, damaged, newer schema, disk full,
/// locked by another process (as `ilink`'s).
const STATE_UNUSABLE: u8 = 7;

/// The library reports what went wrong; this binary turns it into the
/// statuses docs/deployment.md lists, so a supervisor can tell a failure
/// that needs a person from one worth a restart.
#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        // 128 + SIGINT: what a shell reports for a process ended by ctrl-c.
        Err(ExampleError::Bot(BotError::Interrupted)) => {
            eprintln!("interrupted: quit without draining");
            ExitCode::from(130)
        }
        Err(e) => {
            // One line: the error names the file and what to do about it.
            eprintln!("error: {e}");
            match &e {
                ExampleError::Bot(BotError::AccountLocked { .. }) => ExitCode::from(ACCOUNT_LOCKED),
                e if e.store_error().is_some_and(|s| s.is_state_unusable()) => {
                    ExitCode::from(STATE_UNUSABLE)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

async fn run() -> Result<(), ExampleError> {
    // The accounts ILINK_* or `ilink login` configure (what
    // `Bot::from_env` reads), else the embedded simulator.
    let target = Target::from_env(&["demo"]).await?;
    // Listening before the accounts start, so an early ctrl-c drains too.
    let signal = ShutdownSignal::new();
    let handle = Bot::builder(DemoBot)
        .settings(target.settings())
        .build()?
        .start()
        .await?;
    target.play(script());
    let report = handle.run_until(signal).await?;
    outln!(
        "Stopped: {} message(s) left unhandled, {} unsent.",
        report.unhandled,
        report.unsent
    );
    target.stop().await;
    Ok(())
}
