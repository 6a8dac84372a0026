//! [`Recorder`]: a handler that notes the text of each message it handles,
//! in order, and answers "got <text>".

use std::sync::Mutex;

use ilink_framework::prelude::*;

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
