//! The [`Handler`] trait: what a bot does with each message.

use async_trait::async_trait;

use crate::account::AccountId;
use crate::context::Context;
use crate::conversation::ConversationKey;
use crate::error::{FrameworkError, HandlerResult};
use crate::events::AccountEvent;
use crate::message::Message;

/// A bot's behaviour. One value serves every account and conversation; it is
/// shared (`Arc<dyn Handler>`), so per-conversation data belongs in
/// [`Context::state`].
///
/// ```
/// use ilink_framework::prelude::*;
///
/// struct Echo;
///
/// #[async_trait]
/// impl Handler for Echo {
///     async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
///         ctx.typing();
///         if let Some(text) = msg.text() {
///             ctx.reply(format!("Echo: {text}")).await?;
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one message. Messages of one conversation arrive one at a
    /// time, in order; different conversations run concurrently.
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult;

    /// Called when handling a message failed (error, panic, bad command
    /// arguments…). The default logs it and sends the user a short reply.
    async fn on_error(&self, ctx: &mut Context, error: FrameworkError) {
        default_on_error(ctx, &error).await;
    }

    /// Called before the first message of a conversation (also after the
    /// conversation was evicted for being idle and comes back).
    async fn on_conversation_start(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    /// Called when an idle conversation is evicted or the account stops.
    async fn on_conversation_end(&self, account: &AccountId, conversation: &ConversationKey) {
        let _ = (account, conversation);
    }

    /// Called for every account event (started, session expired, recovered…).
    async fn on_account_event(&self, event: &AccountEvent) {
        let _ = event;
    }
}

/// The default error hook: log the error and tell the user in one line.
pub async fn default_on_error(ctx: &mut Context, error: &FrameworkError) {
    match error {
        FrameworkError::Handler(_) | FrameworkError::Panic(_) => tracing::error!(
            account = %ctx.account(),
            conversation = %ctx.conversation(),
            message_id = ?ctx.message().message_id(),
            error = %error,
            "handler failed"
        ),
        _ => tracing::info!(
            account = %ctx.account(),
            conversation = %ctx.conversation(),
            error = %error,
            "command refused"
        ),
    }
    if let Err(e) = ctx.reply(error.user_message()).await {
        tracing::warn!(account = %ctx.account(), error = %e, "could not send the error reply");
    }
}

#[async_trait]
impl<H: Handler + ?Sized> Handler for std::sync::Arc<H> {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        (**self).handle(ctx, msg).await
    }

    async fn on_error(&self, ctx: &mut Context, error: FrameworkError) {
        (**self).on_error(ctx, error).await
    }

    async fn on_conversation_start(&self, ctx: &mut Context) -> HandlerResult {
        (**self).on_conversation_start(ctx).await
    }

    async fn on_conversation_end(&self, account: &AccountId, conversation: &ConversationKey) {
        (**self).on_conversation_end(account, conversation).await
    }

    async fn on_account_event(&self, event: &AccountEvent) {
        (**self).on_account_event(event).await
    }
}
