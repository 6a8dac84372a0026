//! Several accounts in one process: one handler serves them all, an account
//! joins while the bot runs, and account events are printed.
//!
//! ```sh
//! cargo run --example multi_account
//! ```
//!
//! With the simulator it runs `shop@im.bot` and `support@im.bot` from the
//! start and adds `night@im.bot` afterwards. With real credentials it runs
//! every account `ilink login` stored, the last one added after the start,
//! as you would after logging in a new account while the bot runs.

use ilink_examples::outln;
use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, Target};
use ilink_framework::ShutdownSignal;
use ilink_framework::prelude::*;

/// Tells the user which account answered.
pub struct Switchboard;

#[async_trait]
impl Handler for Switchboard {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        let text = msg.text().unwrap_or("(no text)");
        // Each account has its own conversations, state and send quota.
        ctx.reply(format!("{} here. You said: {text}", ctx.account()))
            .await?;
        Ok(())
    }

    // Every account event arrives here (also as a stream from
    // `BotHandle::events()`): react to `SessionExpired` by logging the
    // account in again and calling `BotHandle::replace_credentials`.
    async fn on_account_event(&self, event: &AccountEvent) {
        outln!("  [event] {}: {:?}", event.account, event.kind);
    }
}

/// One user writes to each account.
pub fn script() -> Script {
    Script::new()
        .to_account("shop")
        .say("alice@im.wechat", "Do you sell umbrellas?", 1)
        .to_account("support")
        .say("alice@im.wechat", "My umbrella is broken.", 1)
        .to_account("night")
        .say("bob@im.wechat", "Anyone awake?", 1)
}

#[tokio::main]
async fn main() -> Result<(), ExampleError> {
    let target = Target::from_env(&["shop", "support"]).await?;
    let mut settings = target.settings();
    let late = match target.playground() {
        Some(playground) => Some(playground.add_account("night")),
        None if settings.accounts.len() > 1 => settings.accounts.pop(),
        None => None,
    };

    // Listening before the accounts start, so an early ctrl-c drains too.
    let signal = ShutdownSignal::new();
    let handle = Bot::builder(Switchboard)
        .settings(settings)
        .build()?
        .start()
        .await?;
    if let Some(creds) = late {
        outln!("Adding {} while the bot runs", creds.account_id);
        handle.add_account(creds).await?;
    }
    let running: Vec<String> = handle
        .accounts()
        .await
        .iter()
        .map(|a| a.to_string())
        .collect();
    outln!("Running: {}", running.join(", "));

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
