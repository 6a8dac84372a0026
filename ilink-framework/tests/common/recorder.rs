//! [`Recorder`]: a handler that notes the text of each message it handles,
//! in order, and answers "got <text>"; [`start_recorder`] runs one on a
//! [`HookedStore`].

use std::sync::{Arc, Mutex};

use ilink_framework::prelude::*;
use ilink_testkit::{BotAccount, Simulator};

use super::{HookedStore, StoreHooks, fast_options, sim, start_with_store};

/// Records what it handled and replies to it.
#[derive(Default)]
pub struct Recorder {
    pub handled: Mutex<Vec<String>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        let text = msg.text().unwrap_or_default().to_owned();
        self.handled.lock().unwrap().push(text.clone());
        ctx.reply(format!("got {text}")).await?;
        Ok(())
    }
}

/// A [`Recorder`] bot on a fresh simulator, over a [`HookedStore`].
pub struct RecorderBot<H> {
    pub sim: Simulator,
    pub bot: BotAccount,
    pub store: Arc<HookedStore<H>>,
    pub recorder: Arc<Recorder>,
    pub handle: BotHandle,
}

impl<H> RecorderBot<H> {
    /// What the recorder handled so far, in order.
    pub fn handled(&self) -> Vec<String> {
        self.recorder.handled.lock().unwrap().clone()
    }

    /// The bot's account, as the store keys it.
    pub fn account(&self) -> AccountId {
        AccountId::new(self.bot.bot_id.as_str())
    }
}

/// Starts a [`Recorder`] on account `name` with [`fast_options`], over a
/// memory store whose calls go through `hooks`.
pub async fn start_recorder<H: StoreHooks>(name: &str, hooks: H) -> RecorderBot<H> {
    let sim = sim().await;
    let bot = sim.add_account(name);
    let store = Arc::new(HookedStore::new(hooks));
    let recorder = Arc::new(Recorder::default());
    let handle =
        start_with_store(&sim, &bot, recorder.clone(), fast_options(), store.clone()).await;
    RecorderBot {
        sim,
        bot,
        store,
        recorder,
        handle,
    }
}
