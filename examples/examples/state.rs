//! Per-conversation state that survives restarts: a small dialogue that
//! asks for a name and an age, and counts the messages of each
//! conversation.
//!
//! ```sh
//! cargo run --example state
//! ```
//!
//! `ctx.saved_state::<T>(key)` gives this conversation's `T` saved under
//! `key`: loaded from the state database on first use (`Default` if
//! none) and saved in the same transaction that marks the message
//! handled. Stop the bot in the middle of the dialogue and start it again:
//! it goes on where it was. (`ctx.state::<T>()` is the in-memory variant,
//! gone when the conversation is idle or the bot restarts.)

use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, Target};
use ilink_framework::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a conversation stands.
#[derive(Default, Serialize, Deserialize)]
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
#[derive(Default, Serialize, Deserialize)]
pub struct Counter(pub u32);

/// Asks who you are, one question per message.
pub struct Registration;

#[async_trait]
impl Handler for Registration {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        ctx.saved_state::<Counter>("counter").await?.0 += 1;
        let text = msg.text().unwrap_or_default().trim().to_owned();
        // Take the state out, decide, and put the next one back: the match
        // then owns the data it moves between states.
        let state = std::mem::take(ctx.saved_state::<Dialogue>("dialogue").await?);
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
                    let n = ctx.saved_state::<Counter>("counter").await?.0;
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
        *ctx.saved_state::<Dialogue>("dialogue").await? = next;
        ctx.reply(reply).await?;
        Ok(())
    }
}

/// Two users fill in the dialogue at the same time: who says what.
const DIALOGUE: [(&str, &str); 7] = [
    ("alice@im.wechat", "hi"),
    ("bob@im.wechat", "hello"),
    ("alice@im.wechat", "Alice"),
    ("bob@im.wechat", "Bob"),
    ("alice@im.wechat", "thirty"),
    ("alice@im.wechat", "30"),
    ("bob@im.wechat", "25"),
];

/// The whole dialogue; the two users' states stay apart.
pub fn script() -> Script {
    said(&DIALOGUE)
}

/// The dialogue up to where its test restarts the bot.
pub fn first_half() -> Script {
    said(&DIALOGUE[..4])
}

/// The rest of the dialogue, after the restart.
pub fn second_half() -> Script {
    said(&DIALOGUE[4..])
}

fn said(lines: &[(&str, &str)]) -> Script {
    lines.iter().fold(Script::new(), |script, (user, text)| {
        script.say(user, text, 1)
    })
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
