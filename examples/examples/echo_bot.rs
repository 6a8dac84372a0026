//! Echo bot: replies `Echo: <text>` to every text message, showing
//! "typing…" while it works.
//!
//! ```sh
//! cargo run --example echo_bot
//! ```
//!
//! Without credentials it talks to the embedded simulator; see
//! `docs/deployment.md` for running it on a real account.

use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, Target};
use ilink_framework::prelude::*;

/// Ends an echo cut short: the server allows a limited number of replies
/// per user message (10 by default), and a very long text needs more.
pub const CUT_NOTE: &str = "… (too long to echo whole: I may send only so much per message)";

/// The whole bot: one `Handler` implementation.
pub struct EchoBot;

#[async_trait]
impl Handler for EchoBot {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        // Stays on until this function returns; no need to switch it off.
        ctx.typing();
        match msg.text() {
            // A long text becomes several messages; one too long for the
            // quota is cut and says so, rather than failing whole.
            Some(text) => {
                ctx.reply_within_quota(format!("Echo: {text}"), CUT_NOTE)
                    .await?
            }
            None => ctx.reply("I can only echo text.").await?,
        };
        Ok(())
    }
}

/// What the scripted user says in simulator mode.
pub fn script() -> Script {
    Script::new()
        .say("alice@im.wechat", "hello", 1)
        .say("alice@im.wechat", "你好，世界", 1)
        .image("alice@im.wechat", ilink_examples::TINY_PNG, 1)
}

#[tokio::main]
async fn main() -> Result<(), ExampleError> {
    // A real bot runs `Bot::from_env(bot)`; here the settings come from the
    // same place, or from the embedded simulator when nothing is configured.
    let target = Target::from_env(&["demo"]).await?;
    target.play(script());
    Bot::builder(EchoBot)
        .settings(target.settings())
        .build()?
        .run() // until ctrl-c: drain, flush, notifystop
        .await?;
    target.stop().await;
    Ok(())
}
