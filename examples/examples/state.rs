//! Per-conversation state: a small dialogue that asks for a name and an
//! age, and counts the messages of each conversation.
//!
//! ```sh
//! cargo run --example state
//! ```
//!
//! `ctx.state::<T>()` gives this conversation's `T`, created with `Default`
//! on first use. It lives as long as the conversation's session: an idle
//! conversation is evicted after `BotOptions::idle_timeout` and starts over.

use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, Target};
use ilink_framework::prelude::*;

/// Where a conversation stands.
#[derive(Default)]
pub enum Dialogue {
    /// Nothing asked yet.
    #[default]
    Start,
    /// We asked for a name.
    AskedName,
    /// We know the name and asked for the age.
    AskedAge {
        /// The name given.
        name: String,
    },
}

/// Messages seen in this conversation.
#[derive(Default)]
pub struct Counter(pub u32);

/// Asks who you are, one question per message.
pub struct Registration;

#[async_trait]
impl Handler for Registration {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        ctx.state::<Counter>().0 += 1;
        let text = msg.text().unwrap_or_default().trim().to_owned();
        // Take the state out, decide, and put the next one back: the match
        // then owns the data it moves between states.
        let state = ctx.take_state::<Dialogue>().unwrap_or_default();
        let (next, reply) = match state {
            Dialogue::Start => (Dialogue::AskedName, "Hi! What is your name?".to_owned()),
            Dialogue::AskedName if text.is_empty() => {
                (Dialogue::AskedName, "Please tell me your name.".to_owned())
            }
            Dialogue::AskedName => (
                Dialogue::AskedAge { name: text.clone() },
                format!("How old are you, {text}?"),
            ),
            Dialogue::AskedAge { name } => match text.parse::<u8>() {
                Ok(age) => {
                    let n = ctx.state::<Counter>().0;
                    (
                        Dialogue::Start,
                        format!("{name}, {age}: nice to meet you! ({n} messages so far)"),
                    )
                }
                Err(_) => (
                    Dialogue::AskedAge { name },
                    "Please send your age as a number.".to_owned(),
                ),
            },
        };
        *ctx.state::<Dialogue>() = next;
        ctx.reply(reply).await?;
        Ok(())
    }
}

/// Two users fill in the dialogue at the same time; their states stay apart.
pub fn script() -> Script {
    Script::new()
        .say("alice@im.wechat", "hi", 1)
        .say("bob@im.wechat", "hello", 1)
        .say("alice@im.wechat", "Alice", 1)
        .say("bob@im.wechat", "Bob", 1)
        .say("alice@im.wechat", "thirty", 1)
        .say("alice@im.wechat", "30", 1)
        .say("bob@im.wechat", "25", 1)
}

#[tokio::main]
async fn main() -> Result<(), ExampleError> {
    // A real bot runs `Bot::from_env(bot)`; here the settings come from the
    // same place, or from the embedded simulator when nothing is configured.
    let target = Target::from_env(&["demo"]).await?;
    target.play(script());
    Bot::builder(Registration)
        .settings(target.settings())
        .build()?
        .run() // until ctrl-c: drain, flush, notifystop
        .await?;
    target.stop().await;
    Ok(())
}
