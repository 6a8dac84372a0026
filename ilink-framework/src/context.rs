//! [`Context`]: what a handler can do while it handles one message.
//!
//! It knows the account, the conversation and the message; it replies
//! (chunked, ordered, retried, context token echoed), sends media, keeps
//! "typing…" alive until the handler returns, sends proactively to users who
//! wrote before, reports the quota, and holds per-conversation state.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::Path;

use ilink_core::types::MessageItem;
use ilink_core::{ILinkClient, MediaKind, SentMessage};

use crate::account::AccountId;
use crate::conversation::ConversationKey;
use crate::error::SendError;
use crate::message::Message;
use crate::sender::Outbox;
use crate::sender::quota::QuotaState;

/// Typed per-conversation state: one value per type, living as long as the
/// conversation's session.
#[derive(Default)]
pub(crate) struct StateMap(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

/// The handler's view of the world while it handles one message.
///
/// Every fallible method fails with [`SendError`]: a refused send, a store
/// failure (`SendError::Store`) or a client failure such as a download
/// (`SendError::Client`).
pub struct Context {
    conversation: ConversationKey,
    message: Message,
    outbox: Outbox,
    /// The account's client when the run began, for media downloads.
    client: ILinkClient,
    state: StateMap,
    typing: bool,
}

impl Context {
    pub(crate) fn new(
        conversation: ConversationKey,
        message: Message,
        outbox: Outbox,
        client: ILinkClient,
        state: StateMap,
    ) -> Self {
        Self {
            client,
            conversation,
            message,
            outbox,
            state,
            typing: false,
        }
    }

    /// Hands the state back to the session and stops "typing…".
    pub(crate) fn finish(self) -> StateMap {
        if self.typing {
            self.outbox.typing_stop(self.message.sender());
        }
        self.state
    }

    /// The bot account the message came to.
    pub fn account(&self) -> &AccountId {
        self.outbox.account()
    }

    /// The conversation the message belongs to.
    pub fn conversation(&self) -> &ConversationKey {
        &self.conversation
    }

    /// The message being handled.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The account's outbox, to send from tasks that outlive the handler.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Replies to the sender; long texts are split into several messages.
    pub async fn reply(&self, text: impl Into<String>) -> Result<Vec<SentMessage>, SendError> {
        self.outbox.send_text(self.message.sender(), text).await
    }

    /// Replies with media from memory.
    pub async fn reply_media(
        &self,
        kind: MediaKind,
        bytes: Vec<u8>,
        file_name: impl Into<String>,
    ) -> Result<SentMessage, SendError> {
        self.outbox
            .send_media(self.message.sender(), kind, bytes, file_name)
            .await
    }

    /// Replies with a file from disk; the kind is guessed from its extension.
    pub async fn reply_file(&self, path: impl AsRef<Path>) -> Result<SentMessage, SendError> {
        let path = path.as_ref();
        let bytes = tokio::fs::read(path).await.map_err(|source| {
            SendError::Client(ilink_core::Error::Io {
                context: format!("reading {}", path.display()),
                source,
            })
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        self.reply_media(MediaKind::from_path(path), bytes, name)
            .await
    }

    /// Shows "typing…" to the sender until the handler returns. Returns at
    /// once: a task of the account's sender keeps it alive.
    pub fn typing(&mut self) {
        if !self.typing {
            self.typing = true;
            self.outbox.typing_start(self.message.sender());
        }
    }

    /// Sends text to another user of this account who has written before
    /// (their stored context token is used; the quota applies).
    pub async fn send_to(
        &self,
        user: &str,
        text: impl Into<String>,
    ) -> Result<Vec<SentMessage>, SendError> {
        self.outbox.send_text(user, text).await
    }

    /// Where the sender's send quota stands.
    pub async fn quota(&self) -> Result<QuotaState, SendError> {
        self.quota_of(self.message.sender()).await
    }

    /// Where any user's send quota stands.
    pub async fn quota_of(&self, user: &str) -> Result<QuotaState, SendError> {
        Ok(self.outbox.quota(user).await?)
    }

    /// Downloads and decrypts the media of an item of this (or any) message.
    pub async fn download(&self, item: &MessageItem) -> Result<Vec<u8>, SendError> {
        Ok(self.client.download_media(item).await?)
    }

    /// This conversation's value of type `T`, created with `Default` on first use.
    ///
    /// ```
    /// # use ilink_framework::prelude::*;
    /// #[derive(Default)]
    /// struct Counter(u32);
    /// # async fn demo(ctx: &mut Context) {
    /// ctx.state::<Counter>().0 += 1;
    /// # }
    /// ```
    pub fn state<T: Default + Send + Sync + 'static>(&mut self) -> &mut T {
        self.state
            .0
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
            .expect("the map is keyed by the value's TypeId")
    }

    /// Removes and returns this conversation's value of type `T`.
    pub fn take_state<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.state
            .0
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast::<T>().ok())
            .map(|b| *b)
    }
}
