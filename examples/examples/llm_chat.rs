//! A chat bot with a language model behind it: answers streamed as they
//! are generated, Markdown made readable, a history per conversation that
//! survives restarts, `/reset` and `/help`, voice answered from its
//! transcript.
//!
//! ```sh
//! cargo run --example llm_chat                      # the simulator and its mock model
//! OPENAI_API_KEY=sk-... cargo run --example llm_chat # a real model (any OpenAI-compatible
//!                                                    # API: OPENAI_BASE_URL, OPENAI_MODEL)
//! ```
//!
//! Without `OPENAI_*` settings the model is the simulator's mock at
//! `<simulator>/v1` (deterministic Markdown answers), like every example
//! uses the simulator without WeChat credentials.

use std::sync::Mutex;

use futures::StreamExt as _;
use ilink_examples::openai::{ChatModel, Turn};
use ilink_examples::outln;
use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, Target};
use ilink_framework::prelude::*;
use serde::{Deserialize, Serialize};

/// What the model is told before every conversation.
const SYSTEM: &str = "You are a helpful assistant chatting on WeChat. Answer concisely.";

/// The history sent to the model is trimmed to about this many characters
/// (oldest turns first), so a long conversation neither grows the state
/// without bound nor overflows the model's context.
pub const HISTORY_BUDGET: usize = 12_000;

/// What the user reads when the model fails.
pub const APOLOGY: &str = "Sorry, I could not answer just now ({error}). Please try again.";

/// A conversation's history, saved with each handled message.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct History {
    /// The turns so far, oldest first.
    pub turns: Vec<Turn>,
}

impl History {
    /// Drops the oldest turns until the history fits the budget; the
    /// newest turn always stays.
    pub fn trim(&mut self, budget: usize) {
        let mut size: usize = self.turns.iter().map(|t| t.content.chars().count()).sum();
        while size > budget && self.turns.len() > 1 {
            size -= self.turns.remove(0).content.chars().count();
        }
    }
}

/// The bot: a model to ask.
pub struct LlmChat {
    /// Where answers come from.
    pub model: ChatModel,
}

#[commands]
impl LlmChat {
    /// Forgets this conversation's history.
    async fn reset(&self, ctx: &mut Context) -> HandlerResult {
        ctx.clear_saved_state("history");
        ctx.reply("Done: I forgot our conversation.").await?;
        Ok(())
    }

    #[fallback]
    async fn chat(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        // A voice message is answered from the server's transcript.
        let Some(question) = msg
            .text()
            .or_else(|| msg.voice_text())
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned)
        else {
            ctx.reply("Send me text or a voice message.").await?;
            return Ok(());
        };
        let conversation = {
            let history = ctx.saved_state::<History>("history").await?;
            history.turns.push(Turn::user(&question));
            history.trim(HISTORY_BUDGET);
            std::iter::once(Turn::system(SYSTEM))
                .chain(history.turns.iter().cloned())
                .collect::<Vec<_>>()
        };
        ctx.typing();
        let options = StreamOptions::markdown().error_note(APOLOGY);
        // What the model said, kept for the history while it is streamed.
        let answer = Mutex::new(String::new());
        let report = match self.model.stream(&conversation).await {
            Ok(deltas) => {
                let deltas = deltas.inspect(|d| {
                    if let Ok(text) = d {
                        answer.lock().expect("answer lock").push_str(text);
                    }
                });
                ctx.reply_stream(deltas, options).await?
            }
            Err(e) => {
                let failed = futures::stream::iter([Err::<String, _>(e)]);
                ctx.reply_stream(failed, options).await?
            }
        };
        let answer = answer.into_inner().expect("answer lock");
        if let Some(error) = &report.error {
            tracing::warn!(%error, "the model failed; the user got an apology");
        }
        if !answer.is_empty() {
            let history = ctx.saved_state::<History>("history").await?;
            history.turns.push(Turn::assistant(answer));
            history.trim(HISTORY_BUDGET);
        }
        Ok(())
    }
}

/// A user asks, asks for something long, asks by voice, resets. (With
/// the mock model a short answer streams as 2 messages, its first
/// paragraphs early; the long one of about 7,000 characters as 5.)
pub fn script() -> Script {
    let alice = "alice@im.wechat";
    Script::new()
        .say(alice, "/help", 1)
        .say(alice, "What is ilink-rs?", 2)
        .say(alice, "Tell me a long story", 5)
        .voice(alice, &[2, 0, 0], "what did I ask first?", 2)
        .say(alice, "/reset", 1)
}

#[tokio::main]
async fn main() -> Result<(), ExampleError> {
    let target = Target::from_env(&["demo"]).await?;
    let model = match (ChatModel::from_env(), target.playground()) {
        (Some(model), _) => model,
        // The simulator's mock model, where the simulator runs.
        (None, Some(playground)) => ChatModel::mock(playground.sim()),
        (None, None) => {
            eprintln!(
                "llm_chat: set OPENAI_API_KEY (and OPENAI_BASE_URL, OPENAI_MODEL for another \
                 provider) to answer real users"
            );
            std::process::exit(2);
        }
    };
    outln!("model: {}", model.base_url());
    target.play(script());
    Bot::builder(LlmChat { model })
        .settings(target.settings())
        .build()?
        .run() // until ctrl-c: drain, flush, notifystop
        .await?;
    target.stop().await;
    Ok(())
}
