//! [`handler_fn`]: a closure as a [`Handler`], for a bot that fits in one
//! function.
//!
//! ```no_run
//! use ilink_framework::prelude::*;
//!
//! # async fn demo() -> Result<(), BotError> {
//! let echo = handler_fn(|chat: Chat, msg: Message| async move {
//!     chat.typing();
//!     chat.reply(format!("Echo: {}", msg.text().unwrap_or_default())).await?;
//!     Ok(())
//! });
//! Bot::from_env(echo).await?.build()?.run().await
//! # }
//! ```
//!
//! The closure gets owned values, [`Chat`] and [`Message`], so the future it
//! returns borrows nothing: a closure cannot return a future that borrows
//! its `&mut Context` argument, which is why [`Handler::handle`] is a trait
//! method instead. Per-conversation state ([`Context::state`]) and the other
//! hooks ([`Handler::on_error`], …) need a `Handler` implementation.

use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ilink_core::{MediaKind, SentMessage};

use crate::account::AccountId;
use crate::context::Context;
use crate::conversation::ConversationKey;
use crate::error::{HandlerResult, SendError};
use crate::handler::Handler;
use crate::message::Message;
use crate::sender::Outbox;
use crate::sender::quota::QuotaState;

/// Makes a [`Handler`] of a closure that gets a [`Chat`] and the message.
pub fn handler_fn<F, Fut>(f: F) -> HandlerFn<F>
where
    F: Fn(Chat, Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    HandlerFn(f)
}

/// A closure as a [`Handler`]; made by [`handler_fn`].
pub struct HandlerFn<F>(F);

#[async_trait]
impl<F, Fut> Handler for HandlerFn<F>
where
    F: Fn(Chat, Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        let chat = Chat::of(ctx);
        // Dropped however the closure's future ends: returned, panicked, or
        // stopped at the shutdown deadline.
        let _typing = TypingGuard(chat.clone());
        (self.0)(chat, msg).await
    }
}

/// A cloneable handle on the conversation a message came from: what a
/// [`handler_fn`] closure replies with.
#[derive(Clone)]
pub struct Chat {
    account: AccountId,
    conversation: ConversationKey,
    user: String,
    outbox: Outbox,
    typing: Arc<Mutex<Typing>>,
}

/// Where "typing…" stands for the message being handled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Typing {
    Off,
    On,
    /// The handler has returned; "typing…" may not start again.
    Done,
}

impl Chat {
    fn of(ctx: &Context) -> Self {
        Self {
            account: ctx.account().clone(),
            conversation: ctx.conversation().clone(),
            user: ctx.message().sender().to_owned(),
            outbox: ctx.outbox().clone(),
            typing: Arc::new(Mutex::new(Typing::Off)),
        }
    }

    /// The bot account the message came to.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The conversation the message belongs to.
    pub fn conversation(&self) -> &ConversationKey {
        &self.conversation
    }

    /// The user who wrote, whom replies go to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The account's outbox, to send to other users or from tasks that
    /// outlive the handler.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Replies to the user; long texts are split into several messages.
    ///
    /// Sent as through the [`Outbox`]: with fresh `client_id`s and no send
    /// journal, so a message handled again after a crash replies again (a
    /// [`Handler`](crate::Handler)'s `Context::reply` does not).
    pub async fn reply(&self, text: impl Into<String>) -> Result<Vec<SentMessage>, SendError> {
        self.outbox.send_text(&self.user, text).await
    }

    /// Replies with media from memory.
    pub async fn reply_media(
        &self,
        kind: MediaKind,
        bytes: Vec<u8>,
        file_name: impl Into<String>,
    ) -> Result<SentMessage, SendError> {
        self.outbox
            .send_media(&self.user, kind, bytes, file_name)
            .await
    }

    /// Shows "typing…" to the user until the closure's future ends; after
    /// that it does nothing.
    pub fn typing(&self) {
        let mut typing = self.typing.lock().unwrap_or_else(|e| e.into_inner());
        if *typing == Typing::Off {
            *typing = Typing::On;
            self.outbox.typing_start(&self.user);
        }
    }

    /// Where the user's send quota stands.
    pub async fn quota(&self) -> Result<QuotaState, SendError> {
        Ok(self.outbox.quota(&self.user).await?)
    }
}

/// Stops "typing…" when the handler's future ends, and keeps clones of the
/// [`Chat`] held by other tasks from starting it again.
struct TypingGuard(Chat);

impl Drop for TypingGuard {
    fn drop(&mut self) {
        let chat = &self.0;
        let mut typing = chat.typing.lock().unwrap_or_else(|e| e.into_inner());
        if *typing == Typing::On {
            chat.outbox.typing_stop(&chat.user);
        }
        *typing = Typing::Done;
    }
}
