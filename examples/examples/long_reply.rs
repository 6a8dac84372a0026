//! Long replies: a slow, LLM-like handler. It keeps "typing…" alive while
//! it thinks, then sends an answer far longer than one WeChat message, which
//! the framework splits into ordered chunks. Conversations run in parallel:
//! a slow answer to one user never holds up another.
//!
//! ```sh
//! cargo run --example long_reply
//! ```

use std::time::Duration;

use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, Target};
use ilink_framework::prelude::*;

/// Thinks for a while, then answers at length.
pub struct SlowBot {
    /// How long "thinking" takes (a model call, in a real bot).
    pub thinking: Duration,
}

#[async_trait]
impl Handler for SlowBot {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        // Re-sent every `BotOptions::typing_interval` until we return, so it
        // does not lapse however long the model takes.
        ctx.typing();
        let question = msg.text().unwrap_or("(no question)").to_owned();
        tokio::time::sleep(self.thinking).await;
        // One call, however long: the Sender splits at 4000 UTF-16 units
        // (preferring paragraph and line breaks) and keeps the parts in order.
        let parts = ctx.reply(answer(&question)).await?;
        tracing::info!(parts = parts.len(), "answered");
        Ok(())
    }
}

/// A deterministic stand-in for a model's answer: about 9000 characters in
/// paragraphs, so it takes three messages.
pub fn answer(question: &str) -> String {
    let mut out = format!("You asked: {question}\n\n");
    for n in 1..=45 {
        out.push_str(&format!(
            "Paragraph {n}. A careful answer considers the question from several sides, \
             weighs what is known against what is merely assumed, and says plainly where \
             the evidence ends. This is point {n} of 45 in that spirit.\n\n"
        ));
    }
    out.push_str("That is all. Ask me anything else!");
    out
}

/// Alice and Bob ask at the same time; both answers arrive whole.
pub fn script() -> Script {
    Script::new()
        .say("alice@im.wechat", "Why is the sky blue?", 0)
        .say("bob@im.wechat", "How do tides work?", 6)
}

#[tokio::main]
async fn main() -> Result<(), ExampleError> {
    let bot = SlowBot {
        thinking: Duration::from_secs(7),
    };
    // A real bot runs `Bot::from_env(bot)`; here the settings come from the
    // same place, or from the embedded simulator when nothing is configured.
    let target = Target::from_env(&["demo"]).await?;
    target.play(script());
    Bot::builder(bot)
        .settings(target.settings())
        .build()?
        .run() // until ctrl-c: drain, flush, notifystop
        .await?;
    target.stop().await;
    Ok(())
}
