//! [`Context`]: what a handler can do while it handles one message.
//!
//! It knows the account, the conversation and the message; it replies
//! (chunked, ordered, retried, context token echoed), sends media, keeps
//! "typing…" alive until the handler returns, sends proactively to users who
//! wrote before, reports the quota, and holds per-conversation state, in
//! memory or saved in the store.
//!
//! Its sends carry the run's positions (see [`crate::run_sends`]), so a
//! message handled again after a crash sends nothing twice.

use std::path::Path;
use std::sync::Arc;

use futures::{Stream, StreamExt as _};
use ilink_core::types::MessageItem;
use ilink_core::{ILinkClient, MediaKind, SentMessage};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::account::AccountId;
use crate::conversation::ConversationKey;
use crate::conversation_state::ConversationState;
use crate::error::SendError;
use crate::message::Message;
use crate::reply_stream::{StreamCutter, StreamOptions, StreamReport};
use crate::run_sends::{Origin, RunSends};
use crate::sender::Outbox;
use crate::sender::quota::QuotaState;
use crate::store::{StateStore, StoreError};

/// What a [`Context`] is made of, besides its conversation's state.
pub(crate) struct RunParts {
    pub(crate) conversation: ConversationKey,
    pub(crate) message: Message,
    pub(crate) outbox: Outbox,
    /// The account's client when the run began, for media downloads.
    pub(crate) client: ILinkClient,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) sends: RunSends,
}

/// The handler's view of the world while it handles one message.
///
/// Every fallible method fails with [`SendError`]: a refused send, a store
/// failure (`SendError::Store`) or a client failure such as a download
/// (`SendError::Client`).
pub struct Context {
    conversation: ConversationKey,
    message: Message,
    outbox: Outbox,
    client: ILinkClient,
    store: Arc<dyn StateStore>,
    sends: RunSends,
    state: ConversationState,
    typing: bool,
}

impl Context {
    pub(crate) fn new(parts: RunParts, state: ConversationState) -> Self {
        Self {
            conversation: parts.conversation,
            message: parts.message,
            outbox: parts.outbox,
            client: parts.client,
            store: parts.store,
            sends: parts.sends,
            state,
            typing: false,
        }
    }

    /// Hands the state back to the session and stops "typing…".
    pub(crate) fn finish(self) -> ConversationState {
        if self.typing {
            self.outbox.typing_stop(self.message.sender());
        }
        self.state
    }

    /// The next send position of this run.
    async fn origin(&self) -> Result<Origin, SendError> {
        Ok(self.sends.next(&*self.store, self.account()).await?)
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
    ///
    /// If this message is handled again after a crash, a reply the server
    /// already accepted in the first run is not sent again: the call
    /// returns what the first run got (see [`Context`]'s guarantee).
    pub async fn reply(&self, text: impl Into<String>) -> Result<Vec<SentMessage>, SendError> {
        let text = text.into();
        let origin = self.origin().await?;
        self.outbox
            .send_text_from(self.message.sender(), text, Some(origin))
            .await
    }

    /// Replies with Markdown (a language model's answer, say) made readable
    /// as WeChat text: no `**`, `#` or code fences; lists, links, code and
    /// tables laid out as plain text (see [`ilink_core::markdown`]). Long
    /// answers are cut into messages between blocks, so a code block or a
    /// table that fits in one message is never split across two.
    ///
    /// ```
    /// # use ilink_framework::prelude::*;
    /// # async fn demo(ctx: &Context) -> Result<(), SendError> {
    /// ctx.reply_markdown("**Done.** Run `cargo test` next:\n\n```\ncargo test --workspace\n```")
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reply_markdown(
        &self,
        markdown: impl Into<String>,
    ) -> Result<Vec<SentMessage>, SendError> {
        let markdown = markdown.into();
        let origin = self.origin().await?;
        self.outbox
            .send_markdown_from(self.message.sender(), markdown, Some(origin))
            .await
    }

    /// Replies with an answer as it is generated: `deltas` is a stream of
    /// text pieces (what a language model's streaming API yields), sent as
    /// a few messages while it runs, with "typing…" shown in between.
    ///
    /// The first paragraph goes out as soon as it is complete; later
    /// messages are each about four times as long as the one before (up to
    /// the message limit), so a long answer fits the sender's quota; text is cut
    /// only between paragraphs. The last message allowed waits for the end
    /// of the stream, and one more is kept in reserve: when the answer does
    /// not fit, the last message ends with [`StreamOptions::cut_note`]; when
    /// the stream fails, what it produced is sent, then
    /// [`StreamOptions::error_note`]. The report says which. "Typing…"
    /// stops when the stream is done (unless it was on before).
    /// [`StreamOptions::markdown`] renders a Markdown answer as
    /// [`Context::reply_markdown`] does, never cutting inside a block.
    ///
    /// ```
    /// # use ilink_framework::prelude::*;
    /// # async fn demo(ctx: &mut Context) -> Result<(), SendError> {
    /// // A model's answer, as a stream of deltas.
    /// let deltas = futures::stream::iter(["Hel", "lo", "!\n\nHow can I help?"])
    ///     .map(Ok::<_, std::io::Error>);
    /// let report = ctx.reply_stream(deltas, StreamOptions::default()).await?;
    /// assert!(report.complete());
    /// # Ok(())
    /// # }
    /// # use futures::StreamExt as _;
    /// ```
    pub async fn reply_stream<S, T, E>(
        &mut self,
        deltas: S,
        options: StreamOptions,
    ) -> Result<StreamReport, SendError>
    where
        S: Stream<Item = Result<T, E>> + Send,
        T: AsRef<str>,
        E: std::fmt::Display,
    {
        let was_typing = self.typing;
        self.typing();
        let this = &*self;
        let result = async move {
            let quota = this.quota().await?;
            // What an earlier run of this message sent from here on counts
            // as part of the budget it had (the journal returns those sends
            // instead of making them), so a replay cuts where it did.
            let earlier = this
                .sends
                .journaled_from_next(&*this.store, this.account())
                .await?;
            let limit = this.outbox.chunk_limit();
            let budget = quota.remaining.saturating_add(earlier) as usize;
            let mut cutter = StreamCutter::new(options, limit, budget);
            let mut report = StreamReport::default();
            let mut deltas = std::pin::pin!(deltas);
            while let Some(delta) = deltas.next().await {
                let messages = match delta {
                    Ok(text) => cutter.push(text.as_ref()),
                    Err(e) => {
                        let error = e.to_string();
                        let messages = cutter.fail(&error);
                        report.error = Some(error);
                        this.send_stream_messages(messages, &mut report).await?;
                        return Ok(report);
                    }
                };
                this.send_stream_messages(messages, &mut report).await?;
            }
            let (messages, cut) = cutter.finish();
            report.cut = cut;
            this.send_stream_messages(messages, &mut report).await?;
            Ok(report)
        }
        .await;
        // Stopped whether the stream ended, failed or a send failed.
        if !was_typing {
            self.typing = false;
            self.outbox.typing_stop(self.message.sender());
        }
        result
    }

    /// Sends a streamed reply's messages, one send position each.
    async fn send_stream_messages(
        &self,
        messages: Vec<String>,
        report: &mut StreamReport,
    ) -> Result<(), SendError> {
        for message in messages {
            report.sent.extend(self.reply(message).await?);
        }
        Ok(())
    }

    /// Replies with as much of `text` as the sender's quota still allows:
    /// when the whole text needs more messages than remain, the last one
    /// sent is cut short and ends with `note` (say, "… (too long: I stopped
    /// here; write again for more)"), instead of the reply being refused.
    /// Still fails with [`SendError::QuotaExhausted`] when nothing is left.
    ///
    /// ```
    /// # use ilink_framework::prelude::*;
    /// # async fn demo(ctx: &Context, answer: String) -> Result<(), SendError> {
    /// ctx.reply_within_quota(answer, "… (that is all I may send; write again for more)")
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reply_within_quota(
        &self,
        text: impl Into<String>,
        note: impl Into<String>,
    ) -> Result<Vec<SentMessage>, SendError> {
        let (text, note) = (text.into(), note.into());
        let origin = self.origin().await?;
        self.outbox
            .send_text_within_quota_from(self.message.sender(), text, note, Some(origin))
            .await
    }

    /// Replies with media from memory.
    pub async fn reply_media(
        &self,
        kind: MediaKind,
        bytes: Vec<u8>,
        file_name: impl Into<String>,
    ) -> Result<SentMessage, SendError> {
        let file_name = file_name.into();
        let origin = self.origin().await?;
        self.outbox
            .send_media_from(self.message.sender(), kind, bytes, file_name, Some(origin))
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
        let text = text.into();
        let origin = self.origin().await?;
        self.outbox.send_text_from(user, text, Some(origin)).await
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

    /// This conversation's value of type `T` in memory, created with
    /// `Default` on first use. It lives as long as the conversation's
    /// session: an idle conversation or a restart starts again from
    /// `Default` (use [`Context::saved_state`] to keep it).
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
        self.state.memory::<T>()
    }

    /// Removes and returns this conversation's value of type `T` in memory.
    pub fn take_state<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.state.take_memory::<T>()
    }

    /// This conversation's saved value under `key`: loaded from the store
    /// on first use (`T::default()` if none), and saved, when it changed,
    /// in the same transaction that marks this message handled. So a
    /// message is handled and its state change saved together or not at
    /// all; the value survives restarts, idle eviction and crashes.
    ///
    /// Values are stored as JSON: fields added later should have serde
    /// defaults. The key names the value in the store; keep it when the
    /// type is renamed.
    ///
    /// ```
    /// # use ilink_framework::prelude::*;
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct History {
    ///     turns: Vec<String>,
    /// }
    /// # async fn demo(ctx: &mut Context) -> Result<(), SendError> {
    /// let text = ctx.message().text().unwrap_or_default().to_owned();
    /// let history = ctx.saved_state::<History>("history").await?;
    /// history.turns.push(text);
    /// let n = history.turns.len();
    /// ctx.reply(format!("{n} messages so far")).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Fails with [`SendError::Store`] when the store cannot be read or its
    /// value does not decode as `T` ([`StoreError::Decode`]).
    pub async fn saved_state<T>(&mut self, key: &str) -> Result<&mut T, SendError>
    where
        T: Serialize + DeserializeOwned + Default + Send + Sync + 'static,
    {
        if !self.state.knows_saved(key) {
            let conversation = self.conversation.as_str();
            let stored = self
                .store
                .load_state(self.outbox.account(), conversation, key)
                .await?;
            let value = match &stored {
                Some(json) => serde_json::from_str::<T>(json)
                    .map_err(|e| decode_error::<T>(&self.conversation, key, e.to_string()))?,
                None => T::default(),
            };
            self.state.insert_saved(key, value, stored);
        }
        // Fields borrowed apart: the error is only built when there is one.
        let conversation = &self.conversation;
        self.state.saved_mut::<T>(key).map_err(|_| {
            decode_error::<T>(conversation, key, "it holds a value of another type".into()).into()
        })
    }

    /// Forgets this conversation's saved value under `key`; the store
    /// forgets it when this message is marked handled.
    pub fn clear_saved_state(&mut self, key: &str) {
        self.state.clear_saved(key);
    }
}

/// A saved value of `conversation` under `key` that is not a `T`.
fn decode_error<T>(conversation: &ConversationKey, key: &str, message: String) -> StoreError {
    StoreError::Decode {
        what: format!(
            "saved state `{key}` of conversation {conversation} as {}",
            std::any::type_name::<T>()
        ),
        message,
    }
}
