//! Scripted users: a handle per (account, user id) that writes to the bot — text,
//! image, video, file, voice with a transcript, quotes, group messages — the way the real
//! server delivers them (fresh `context_token`, u64 `message_id` above 2^53, `seq`,
//! timestamps, media encrypted on the simulator's CDN).
//!
//! ```no_run
//! # async fn demo(sim: &ilink_testkit::Simulator, bot: &ilink_testkit::BotAccount) {
//! use ilink_testkit::{KeyEncoding, Quote};
//!
//! let alice = sim.user(bot, "alice@im.wechat");
//! let first = alice.say("hi").await;
//! alice.send_image(b"\x89PNG...").await;
//! alice.quote(Quote::of(&first), "about that").await;
//! alice.in_group("team@chatroom").say("hello team").await;
//! alice.with_key_encoding(KeyEncoding::RawBase64).send_file("a.pdf", b"%PDF").await;
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use ilink_core::Secret;
use ilink_core::crypto::md5_hex;
use ilink_core::types::{
    FileItem, ImageItem, MessageItem, RefMsg, VideoItem, VoiceEncoding, VoiceItem, WeixinMessage,
};

use crate::cdn::store_inbound;
use crate::config::KeyEncoding;
use crate::state::{Overrides, Shared};

/// A quoted earlier message, for [`ScriptedUser::quote`].
#[derive(Clone, Debug, Default)]
pub struct Quote {
    /// `svr_id`: the quoted message's `message_id`.
    pub svr_id: Option<u64>,
    /// The quoted item; newer clients send only `svr_id`.
    pub message_item: Option<MessageItem>,
    /// `title` (usually the quoted sender's name or text).
    pub title: Option<String>,
}

impl Quote {
    /// Quotes a whole message: its id and its first item.
    pub fn of(msg: &WeixinMessage) -> Self {
        Self {
            svr_id: msg.message_id,
            message_item: msg.item_list.first().cloned(),
            title: msg.text(),
        }
    }

    /// Quotes by `svr_id` only, as newer clients do.
    pub fn svr_id(id: u64) -> Self {
        Self {
            svr_id: Some(id),
            ..Self::default()
        }
    }
}

/// A person writing to one bot account. Cheap to clone.
#[derive(Clone)]
pub struct ScriptedUser {
    shared: Arc<Shared>,
    bot_id: String,
    user_id: String,
    group_id: Option<String>,
    key_encoding: Option<KeyEncoding>,
}

impl std::fmt::Debug for ScriptedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedUser")
            .field("bot_id", &self.bot_id)
            .field("user_id", &self.user_id)
            .field("group_id", &self.group_id)
            .finish()
    }
}

impl ScriptedUser {
    pub(crate) fn new(shared: Arc<Shared>, bot_id: String, user_id: String) -> Self {
        shared.with(|i| {
            if let Some(a) = i.accounts.get_mut(&bot_id) {
                a.contacts.insert(user_id.clone());
            }
        });
        Self {
            shared,
            bot_id,
            user_id,
            group_id: None,
            key_encoding: None,
        }
    }

    /// The user id, byte-exact.
    pub fn id(&self) -> &str {
        &self.user_id
    }

    /// The bot account this user writes to.
    pub fn bot_id(&self) -> &str {
        &self.bot_id
    }

    /// The same user writing in a group (`group_id` on each message).
    pub fn in_group(&self, group_id: impl Into<String>) -> Self {
        Self {
            group_id: Some(group_id.into()),
            ..self.clone()
        }
    }

    /// The same user, with media keys in this encoding.
    pub fn with_key_encoding(&self, encoding: KeyEncoding) -> Self {
        Self {
            key_encoding: Some(encoding),
            ..self.clone()
        }
    }

    /// The newest context token the server issued for this user.
    pub fn context_token(&self) -> Option<Secret> {
        self.shared.read(|i| {
            i.accounts
                .get(&self.bot_id)?
                .latest_context
                .get(&self.user_id)
                .map(|t| Secret::new(t.clone()))
        })
    }

    /// Sends items as one inbound message and returns it as the bot will receive it.
    /// Returns an empty message if the account was removed.
    pub async fn send_items(&self, items: Vec<MessageItem>) -> WeixinMessage {
        self.send_with(items, Overrides::default())
    }

    pub(crate) fn send_with(&self, items: Vec<MessageItem>, overrides: Overrides) -> WeixinMessage {
        let (msg, redelivery) = self.shared.with(|i| {
            let group = self.group_id.clone();
            let msg = i.push_inbound(&self.bot_id, &self.user_id, items, group, overrides);
            (msg, i.config.redelivery)
        });
        let Some(msg) = msg else {
            return WeixinMessage::default();
        };
        if let (Some(r), Some(id)) = (redelivery, msg.message_id) {
            self.redeliver_later(id, r.delay, r.new_message_id);
        }
        msg
    }

    fn redeliver_later(&self, message_id: u64, delay: Duration, new_id: bool) {
        let sh = self.shared.clone();
        let bot = self.bot_id.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {
                    sh.with(|i| i.redeliver(&bot, message_id, new_id));
                }
                _ = sh.shutdown_signal() => {}
            }
        });
    }

    /// Sends a text message.
    pub async fn say(&self, text: impl Into<String>) -> WeixinMessage {
        self.send_items(vec![MessageItem::text(text)]).await
    }

    /// Sends a text that quotes an earlier message (`ref_msg` on the text item).
    pub async fn quote(&self, quote: Quote, text: impl Into<String>) -> WeixinMessage {
        let mut item = MessageItem::text(text);
        item.ref_msg = Some(Box::new(RefMsg {
            title: quote.title,
            message_item: quote.message_item.map(Box::new),
            svr_id: quote.svr_id,
            ..RefMsg::default()
        }));
        self.send_items(vec![item]).await
    }

    fn encrypt(&self, plaintext: &[u8]) -> (ilink_core::types::CdnMedia, String, u64) {
        let cdn = self.shared.cdn_url();
        self.shared.with(|i| {
            let enc = self.key_encoding.unwrap_or(i.config.key_encoding);
            let (media, key, size) = store_inbound(i, &cdn, plaintext, enc);
            (media, key.to_hex(), size)
        })
    }

    /// Sends an image; `image_item.aeskey` carries the hex key as well.
    pub async fn send_image(&self, bytes: &[u8]) -> WeixinMessage {
        self.send_items(vec![self.image_item(bytes)]).await
    }

    /// Sends a video.
    pub async fn send_video(&self, bytes: &[u8]) -> WeixinMessage {
        self.send_items(vec![self.video_item(bytes)]).await
    }

    /// Sends a file attachment.
    pub async fn send_file(&self, name: impl Into<String>, bytes: &[u8]) -> WeixinMessage {
        self.send_items(vec![self.file_item(name, bytes)]).await
    }

    /// Sends a SILK voice note with an optional speech-to-text transcript.
    pub async fn send_voice(&self, bytes: &[u8], transcript: Option<&str>) -> WeixinMessage {
        self.send_items(vec![self.voice_item(bytes, transcript)])
            .await
    }

    /// Encrypts `bytes` onto the CDN and builds an image item (for [`send_items`](Self::send_items)).
    pub fn image_item(&self, bytes: &[u8]) -> MessageItem {
        let (media, hex_key, size) = self.encrypt(bytes);
        MessageItem::image(ImageItem {
            media: Some(media),
            aeskey: Some(Secret::new(hex_key)),
            mid_size: Some(size),
            ..ImageItem::default()
        })
    }

    /// Encrypts `bytes` onto the CDN and builds a video item.
    pub fn video_item(&self, bytes: &[u8]) -> MessageItem {
        let (media, _, size) = self.encrypt(bytes);
        MessageItem::video(VideoItem {
            media: Some(media),
            video_size: Some(size),
            video_md5: Some(md5_hex(bytes)),
            play_length: Some(1),
            ..VideoItem::default()
        })
    }

    /// Encrypts `bytes` onto the CDN and builds a file item.
    pub fn file_item(&self, name: impl Into<String>, bytes: &[u8]) -> MessageItem {
        let (media, _, _) = self.encrypt(bytes);
        MessageItem::file(FileItem {
            media: Some(media),
            file_name: Some(name.into()),
            md5: Some(md5_hex(bytes)),
            len: Some(bytes.len().to_string()),
            ..FileItem::default()
        })
    }

    /// Encrypts `bytes` onto the CDN and builds a SILK voice item with a transcript.
    pub fn voice_item(&self, bytes: &[u8], transcript: Option<&str>) -> MessageItem {
        let (media, _, _) = self.encrypt(bytes);
        MessageItem::voice(VoiceItem {
            media: Some(media),
            encode_type: Some(VoiceEncoding::Silk),
            sample_rate: Some(24_000),
            bits_per_sample: Some(16),
            playtime: Some(1000),
            text: transcript.map(str::to_owned),
            ..VoiceItem::default()
        })
    }
}
