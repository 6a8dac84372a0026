//! The high-level client: polling with a [`Cursor`], message building by the rules of
//! protocol.md, chunked text, the whole media pipeline and cached typing
//! tickets, on top of [`Api`].
//!
//! ```no_run
//! # async fn demo() -> ilink_core::Result<()> {
//! use ilink_core::ILinkClient;
//! let client = ILinkClient::builder("https://ilinkai.weixin.qq.com", "bot@im.bot:secret")
//!     .channel_version("my-bot/1.0")
//!     .build()?;
//! let batch = client.poll().await?;
//! for msg in &batch.msgs {
//!     if let (Some(from), Some(text)) = (msg.from_user_id.as_deref(), msg.text()) {
//!         client.send_text(from, &format!("Echo: {text}"), msg.context_token.as_ref()).await?;
//!     }
//! }
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::cdn;
use crate::chunk::DEFAULT_CHUNK_LIMIT;
use crate::config::{ApiConfig, ApiConfigBuilder, ClientVersion};
use crate::cursor::Cursor;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::outgoing::{Outgoing, new_client_id};
use crate::secret::Secret;
use crate::types::{
    CdnMedia, FileItem, GetConfigResponse, GetUpdatesResponse, GetUploadUrlRequest,
    GetUploadUrlResponse, ImageItem, MessageItem, MessageState, MessageType, TypingStatus,
    UploadMediaType, VideoItem, WeixinMessage,
};
use crate::typing::TypingTickets;

/// The outcome of one `sendmessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The `client_id` the message was sent with; reuse it to retry safely.
    pub client_id: String,
    /// The server's id. `None` goes with messages that were accepted but
    /// never delivered, so callers should surface it.
    pub message_id: Option<u64>,
}

/// What kind of media an upload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A picture, shown inline.
    Image,
    /// A video, played inline.
    Video,
    /// Any other file, sent as an attachment.
    File,
}

impl MediaKind {
    /// Guesses the kind from a file extension (case-insensitive); unknown
    /// extensions are files.
    pub fn from_path(path: impl AsRef<Path>) -> Self {
        let ext = path
            .as_ref()
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "jpg" | "jpeg" | "png" | "gif" | "webp" | "bmp" | "heic" | "heif" => Self::Image,
            "mp4" | "mov" | "m4v" | "avi" | "mkv" | "webm" | "3gp" => Self::Video,
            _ => Self::File,
        }
    }

    fn upload_type(self) -> UploadMediaType {
        match self {
            Self::Image => UploadMediaType::Image,
            Self::Video => UploadMediaType::Video,
            Self::File => UploadMediaType::File,
        }
    }
}

/// The state shared by clones of one client.
#[derive(Debug, Default)]
struct State {
    cursor: Cursor,
}

/// High-level client of one bot account. Clones share the cursor and the
/// [`TypingTickets`], so it can be handed to several tasks; only one of
/// them should poll with [`ILinkClient::poll`].
#[derive(Clone, Debug)]
pub struct ILinkClient {
    api: Api,
    state: Arc<Mutex<State>>,
    tickets: Arc<TypingTickets>,
}

impl ILinkClient {
    /// A builder for the account at `base_url` with `token`.
    pub fn builder(base_url: impl Into<String>, token: impl Into<Secret>) -> ClientBuilder {
        ClientBuilder {
            config: ApiConfig::builder().base_url(base_url).token(token),
            http: None,
            cursor: String::new(),
        }
    }

    /// A client with default settings.
    pub fn new(base_url: impl Into<String>, token: impl Into<Secret>) -> Result<Self> {
        Self::builder(base_url, token).build()
    }

    /// A client over an existing low-level API.
    pub fn from_api(api: Api) -> Self {
        Self {
            api,
            state: Arc::default(),
            tickets: Arc::default(),
        }
    }

    /// The low-level API, for calls this client does not wrap.
    pub fn api(&self) -> &Api {
        &self.api
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is plain data updated in one step, so a panic elsewhere
        // cannot leave it half-written; recover instead of propagating.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cursor of the next poll; persist it to resume after a restart.
    pub fn cursor(&self) -> String {
        self.state().cursor.as_str().to_owned()
    }

    /// Sets the cursor of the next poll (e.g. restored from storage).
    pub fn set_cursor(&self, cursor: impl Into<String>) {
        self.state().cursor = Cursor::new(cursor);
    }

    /// Long-polls once from the client's own cursor and advances it.
    ///
    /// A timeout returns an empty batch and keeps the cursor. The server's
    /// `longpolling_timeout_ms` sets the next poll's timeout, as
    /// [`Cursor::request_timeout`] says.
    pub async fn poll(&self) -> Result<GetUpdatesResponse> {
        let cursor = self.state().cursor.clone();
        let resp = self.poll_from(&cursor).await?;
        self.state().cursor.advance(&resp);
        Ok(resp)
    }

    /// Long-polls once from a cursor the caller owns, without moving it:
    /// the caller follows the answer with [`Cursor::advance`] once the batch
    /// is safe (e.g. persisted), then persists the cursor.
    pub async fn poll_from(&self, cursor: &Cursor) -> Result<GetUpdatesResponse> {
        let timeout = cursor.request_timeout(self.api.config().timeout(Endpoint::GetUpdates));
        self.api.get_updates(cursor.as_str(), Some(timeout)).await
    }

    /// Sends one text message.
    pub async fn send_text(
        &self,
        to: &str,
        text: &str,
        context_token: Option<&Secret>,
    ) -> Result<SentMessage> {
        self.send(to, &Outgoing::new(MessageItem::text(text)), context_token)
            .await
    }

    /// Sends one message as a finished bot message. Sending the same
    /// [`Outgoing`] again retries it: the server drops a repeated
    /// `client_id`, so a retry can never duplicate the message.
    pub fn send(
        &self,
        to: &str,
        msg: &Outgoing,
        context_token: Option<&Secret>,
    ) -> impl Future<Output = Result<SentMessage>> + Send {
        let prepared = bot_message(to, msg.item().clone(), msg.client_id(), context_token);
        self.send_prepared(prepared)
    }

    /// Sends one item as a finished bot message.
    ///
    /// Pass the `client_id` of an earlier attempt to retry it (or use
    /// [`ILinkClient::send`] with the same [`Outgoing`]). `None` makes a
    /// fresh one.
    pub fn send_item(
        &self,
        to: &str,
        item: MessageItem,
        context_token: Option<&Secret>,
        client_id: Option<String>,
    ) -> impl Future<Output = Result<SentMessage>> + Send {
        let client_id = client_id.unwrap_or_else(new_client_id);
        self.send_prepared(bot_message(to, item, &client_id, context_token))
    }

    async fn send_prepared(
        &self,
        prepared: Result<(WeixinMessage, String)>,
    ) -> Result<SentMessage> {
        let (msg, client_id) = prepared?;
        let resp = self.api.send_message(msg).await?;
        Ok(SentMessage {
            client_id,
            message_id: resp.message_id,
        })
    }

    /// Sends a long text as several messages of at most `max_len` characters
    /// (default [`DEFAULT_CHUNK_LIMIT`]; cut as [`Outgoing::text_chunks`]
    /// cuts them, one `client_id` each), in order; returns how many were sent.
    pub async fn send_text_chunked(
        &self,
        to: &str,
        text: &str,
        context_token: Option<&Secret>,
        max_len: Option<usize>,
    ) -> Result<usize> {
        let max_len = max_len.unwrap_or(DEFAULT_CHUNK_LIMIT);
        if max_len == 0 {
            return Err(Error::InvalidInput("max_len must be at least 1".into()));
        }
        let messages = Outgoing::text_chunks(text, max_len);
        for msg in &messages {
            self.send(to, msg, context_token).await?;
        }
        Ok(messages.len())
    }

    /// Encrypts and uploads media for `to` and returns the item to send.
    pub async fn upload_media(
        &self,
        to: &str,
        kind: MediaKind,
        bytes: &[u8],
        file_name: &str,
    ) -> Result<MessageItem> {
        let prepared = cdn::prepare_upload(bytes);
        let req = GetUploadUrlRequest {
            filekey: prepared.filekey.clone(),
            media_type: Some(kind.upload_type()),
            to_user_id: to.to_owned(),
            rawsize: prepared.rawsize,
            rawfilemd5: prepared.rawfilemd5.clone(),
            filesize: prepared.filesize,
            no_need_thumb: true,
            aeskey: Secret::new(prepared.key.to_hex()),
            ..GetUploadUrlRequest::default()
        };
        let target = self.api.get_upload_url(req).await?;
        let param = cdn::upload(
            self.api.http(),
            self.api.config().cdn_base_url(),
            target.upload_full_url.as_ref(),
            target.upload_param.as_ref(),
            &prepared.filekey,
            prepared.ciphertext,
            self.api.config().timeout(Endpoint::CdnUpload),
        )
        .await?;
        let media = CdnMedia {
            encrypt_query_param: Some(param),
            aes_key: Some(Secret::new(prepared.key.to_media_key())),
            encrypt_type: Some(1),
            ..CdnMedia::default()
        };
        Ok(match kind {
            MediaKind::Image => MessageItem::image(ImageItem {
                media: Some(media),
                mid_size: Some(prepared.filesize),
                ..ImageItem::default()
            }),
            MediaKind::Video => MessageItem::video(VideoItem {
                media: Some(media),
                video_size: Some(prepared.filesize),
                ..VideoItem::default()
            }),
            MediaKind::File => MessageItem::file(FileItem {
                media: Some(media),
                file_name: Some(file_name.to_owned()),
                md5: Some(prepared.rawfilemd5),
                len: Some(prepared.rawsize.to_string()),
                ..FileItem::default()
            }),
        })
    }

    /// Uploads media and sends it as one message.
    pub async fn send_media(
        &self,
        to: &str,
        kind: MediaKind,
        bytes: &[u8],
        file_name: &str,
        context_token: Option<&Secret>,
    ) -> Result<SentMessage> {
        let item = self.upload_media(to, kind, bytes, file_name).await?;
        self.send_item(to, item, context_token, None).await
    }

    /// Reads a file, guesses its kind from the extension, uploads and sends it.
    pub async fn send_media_file(
        &self,
        to: &str,
        path: impl AsRef<Path>,
        context_token: Option<&Secret>,
    ) -> Result<SentMessage> {
        let path = path.as_ref();
        let bytes = tokio::fs::read(path).await.map_err(|source| Error::Io {
            context: format!("cannot read media file {}", path.display()),
            source,
        })?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        self.send_media(
            to,
            MediaKind::from_path(path),
            &bytes,
            &file_name,
            context_token,
        )
        .await
    }

    /// Downloads and decrypts the media of an inbound item.
    pub async fn download_media(&self, item: &MessageItem) -> Result<Vec<u8>> {
        let config = self.api.config();
        cdn::download_item(
            self.api.http(),
            config.cdn_base_url(),
            item,
            config.max_download_bytes(),
            config.timeout(Endpoint::CdnDownload),
        )
        .await
    }

    /// Fetches a user's config; a returned typing ticket is cached.
    pub async fn get_config(
        &self,
        user: &str,
        context_token: Option<&Secret>,
    ) -> Result<GetConfigResponse> {
        let resp = self.api.get_config(user, context_token).await?;
        if let Some(ticket) = resp.typing_ticket.as_ref().filter(|t| !t.is_empty()) {
            self.tickets.store(user, ticket.clone(), Instant::now());
        }
        Ok(resp)
    }

    /// Shows "typing…" to `user`, with a ticket from the client's
    /// [`TypingTickets`] (fetched when missing or due, as it says). The
    /// indicator fades after a few seconds; repeat every ~5 s.
    pub async fn send_typing(&self, user: &str, context_token: Option<&Secret>) -> Result<()> {
        self.typing(user, context_token, TypingStatus::Typing).await
    }

    /// Hides the typing indicator of `user`.
    pub async fn cancel_typing(&self, user: &str) -> Result<()> {
        self.typing(user, None, TypingStatus::Cancel).await
    }

    async fn typing(
        &self,
        user: &str,
        context_token: Option<&Secret>,
        status: TypingStatus,
    ) -> Result<()> {
        let ticket = self.tickets.get(&self.api, user, context_token).await?;
        let result = self.api.send_typing(user, &ticket, status).await;
        if matches!(result, Err(Error::Api(_))) {
            // The ticket may have been rotated: fetch a fresh one next time.
            self.tickets.invalidate(user);
        }
        result
    }

    /// Asks where to upload a media blob (see [`ILinkClient::upload_media`]
    /// for the whole pipeline).
    pub async fn get_upload_url(&self, req: GetUploadUrlRequest) -> Result<GetUploadUrlResponse> {
        self.api.get_upload_url(req).await
    }

    /// Tells the server this client starts serving the account.
    pub async fn notify_start(&self) -> Result<()> {
        self.api.notify_start().await
    }

    /// Tells the server this client stops serving the account.
    pub async fn notify_stop(&self) -> Result<()> {
        self.api.notify_stop().await
    }
}

/// The message protocol.md requires for a bot's send, built before the
/// sending future rather than in it: an item inlines every item kind (over
/// 1.5 KB), and callers move and box that future, so it should hold the
/// message's heap buffer instead.
fn bot_message(
    to: &str,
    item: MessageItem,
    client_id: &str,
    context_token: Option<&Secret>,
) -> Result<(WeixinMessage, String)> {
    if to.is_empty() {
        return Err(Error::InvalidInput(
            "the recipient (to_user_id) is empty".into(),
        ));
    }
    let msg = WeixinMessage {
        from_user_id: Some(String::new()),
        to_user_id: Some(to.to_owned()),
        client_id: Some(client_id.to_owned()),
        message_type: Some(MessageType::Bot),
        message_state: Some(MessageState::Finish),
        item_list: vec![item],
        context_token: context_token.cloned(),
        ..WeixinMessage::default()
    };
    Ok((msg, client_id.to_owned()))
}

/// Builder of [`ILinkClient`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    config: ApiConfigBuilder,
    http: Option<reqwest::Client>,
    cursor: String,
}

impl ClientBuilder {
    /// `base_info.channel_version`.
    pub fn channel_version(mut self, version: impl Into<String>) -> Self {
        self.config = self.config.channel_version(version);
        self
    }

    /// The client version of `iLink-App-ClientVersion`.
    pub fn client_version(mut self, version: ClientVersion) -> Self {
        self.config = self.config.client_version(version);
        self
    }

    /// `base_info.bot_agent` (sanitized).
    pub fn bot_agent(mut self, agent: impl Into<String>) -> Self {
        self.config = self.config.bot_agent(agent);
        self
    }

    /// `iLink-App-Id` (default `bot`).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.config = self.config.app_id(app_id);
        self
    }

    /// The `SKRouteTag` header.
    pub fn route_tag(mut self, tag: impl Into<String>) -> Self {
        self.config = self.config.route_tag(tag);
        self
    }

    /// Overrides the timeout of one endpoint.
    pub fn timeout(mut self, endpoint: Endpoint, timeout: Duration) -> Self {
        self.config = self.config.timeout(endpoint, timeout);
        self
    }

    /// The long-poll timeout of the first poll (later ones follow the server).
    pub fn long_poll_timeout(self, timeout: Duration) -> Self {
        self.timeout(Endpoint::GetUpdates, timeout)
    }

    /// The largest API answer body accepted; see [`ApiConfig::max_response_bytes`].
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.config = self.config.max_response_bytes(bytes);
        self
    }

    /// The largest CDN download accepted; see [`ApiConfig::max_download_bytes`].
    pub fn max_download_bytes(mut self, bytes: u64) -> Self {
        self.config = self.config.max_download_bytes(bytes);
        self
    }

    /// The CDN base URL.
    pub fn cdn_base_url(mut self, url: impl Into<String>) -> Self {
        self.config = self.config.cdn_base_url(url);
        self
    }

    /// A caller-supplied HTTP client.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The initial cursor (e.g. restored from storage).
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = cursor.into();
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<ILinkClient> {
        let config = self.config.build()?;
        let api = match self.http {
            Some(http) => Api::with_http(http, config),
            None => Api::new(config)?,
        };
        let client = ILinkClient::from_api(api);
        client.set_cursor(self.cursor);
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_kind_follows_the_extension() {
        assert_eq!(MediaKind::from_path("a/b.JPG"), MediaKind::Image);
        assert_eq!(MediaKind::from_path("clip.mp4"), MediaKind::Video);
        assert_eq!(MediaKind::from_path("report.pdf"), MediaKind::File);
        assert_eq!(MediaKind::from_path("noext"), MediaKind::File);
    }

    #[test]
    fn clones_share_the_cursor() {
        let c = ILinkClient::builder("http://127.0.0.1:9", "t")
            .cursor("c1")
            .build()
            .unwrap();
        let d = c.clone();
        d.set_cursor("c2");
        assert_eq!(c.cursor(), "c2");
    }
}
