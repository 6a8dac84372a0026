//! The low-level API: one async method per endpoint, stateless apart from
//! its configuration, with the exact headers and bodies of protocol.md.
//!
//! ```no_run
//! # async fn demo() -> ilink_core::Result<()> {
//! use ilink_core::{Api, config::ApiConfig};
//! let api = Api::new(ApiConfig::builder().token("bot@im.bot:secret").build()?)?;
//! let batch = api.get_updates("", None).await?;
//! println!("{} messages", batch.msgs.len());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::config::ApiConfig;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result, TransportKind};
use crate::secret::Secret;
use crate::transport::{decode_checked, read_limited, status_error, transport_error};
use crate::types::{
    ApiStatus, BaseRequest, BaseResponse, GetBotQrcodeRequest, GetBotQrcodeResponse,
    GetConfigRequest, GetConfigResponse, GetUpdatesRequest, GetUpdatesResponse,
    GetUploadUrlRequest, GetUploadUrlResponse, QrStatusResponse, SendMessageRequest,
    SendMessageResponse, SendTypingRequest, TypingStatus, WeixinMessage,
};

/// Header names of protocol.md.
pub mod headers {
    /// `AuthorizationType`.
    pub const AUTHORIZATION_TYPE: &str = "AuthorizationType";
    /// Value of `AuthorizationType`.
    pub const AUTHORIZATION_TYPE_VALUE: &str = "ilink_bot_token";
    /// `X-WECHAT-UIN`: base64 of the decimal string of a random u32.
    pub const WECHAT_UIN: &str = "X-WECHAT-UIN";
    /// `iLink-App-Id`.
    pub const APP_ID: &str = "iLink-App-Id";
    /// `iLink-App-ClientVersion`: the packed version as a decimal string.
    pub const CLIENT_VERSION: &str = "iLink-App-ClientVersion";
    /// `SKRouteTag`, only when configured.
    pub const ROUTE_TAG: &str = "SKRouteTag";
}

/// Whether a request is a bot call (auth headers and `base_info`) or a login call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Bot,
    None,
}

/// The low-level iLink API. Cheap to clone; clones share the HTTP pool.
#[derive(Clone, Debug)]
pub struct Api {
    http: reqwest::Client,
    config: Arc<ApiConfig>,
    /// The bot endpoints' URLs, parsed once: reqwest would otherwise parse
    /// (and IDNA-check) the URL string on every request.
    urls: Arc<HashMap<Endpoint, reqwest::Url>>,
}

/// Parses the URLs of the POST endpoints of `config`.
fn parse_urls(config: &ApiConfig) -> Arc<HashMap<Endpoint, reqwest::Url>> {
    let urls = [
        Endpoint::GetUpdates,
        Endpoint::SendMessage,
        Endpoint::GetConfig,
        Endpoint::SendTyping,
        Endpoint::GetUploadUrl,
        Endpoint::NotifyStart,
        Endpoint::NotifyStop,
    ]
    .into_iter()
    // A URL that does not parse is left to reqwest, which reports it.
    .filter_map(|e| reqwest::Url::parse(&config.url(e)).ok().map(|u| (e, u)))
    .collect();
    Arc::new(urls)
}

impl Api {
    /// An API with its own HTTP client.
    pub fn new(config: ApiConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| transport_error(Endpoint::GetUpdates, e))?;
        Ok(Self::with_http(http, config))
    }

    /// An API on a caller-supplied HTTP client (shared pools, proxies, TLS
    /// settings). Per-call timeouts still apply on top of the client's own.
    pub fn with_http(http: reqwest::Client, config: ApiConfig) -> Self {
        Self {
            http,
            urls: parse_urls(&config),
            config: Arc::new(config),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// The HTTP client, for CDN transfers.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A copy talking to another API host, sharing the HTTP client.
    pub fn with_base_url(&self, url: impl Into<String>) -> Result<Self> {
        let config = self.config.with_base_url(url)?;
        Ok(Self {
            http: self.http.clone(),
            urls: parse_urls(&config),
            config: Arc::new(config),
        })
    }

    /// A copy using another bot token, sharing the HTTP client.
    pub fn with_token(&self, token: Secret) -> Self {
        Self {
            http: self.http.clone(),
            config: Arc::new(self.config.with_token(token)),
            // Same host: the parsed URLs stay valid.
            urls: self.urls.clone(),
        }
    }

    /// Long-polls for new messages after `cursor` (`""` the first time).
    ///
    /// A client-side timeout means "no messages": the result is an empty
    /// batch whose `get_updates_buf` is the old cursor. `timeout` defaults to
    /// the configured getupdates timeout.
    pub async fn get_updates(
        &self,
        cursor: &str,
        timeout: Option<Duration>,
    ) -> Result<GetUpdatesResponse> {
        let body = GetUpdatesRequest {
            get_updates_buf: cursor.to_owned(),
            base_info: Some(self.config.base_info()),
        };
        let timeout = timeout.unwrap_or_else(|| self.config.timeout(Endpoint::GetUpdates));
        match self.post_bot(Endpoint::GetUpdates, &body, timeout).await {
            Err(Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }) => Ok(GetUpdatesResponse {
                get_updates_buf: Some(cursor.to_owned()),
                ..GetUpdatesResponse::default()
            }),
            other => other,
        }
    }

    /// Sends one message as it is; see [`crate::ILinkClient::send_item`] for
    /// a version that fills in the fields protocol.md requires.
    pub async fn send_message(&self, msg: WeixinMessage) -> Result<SendMessageResponse> {
        let body = SendMessageRequest {
            msg,
            base_info: Some(self.config.base_info()),
        };
        self.post_bot_default(Endpoint::SendMessage, &body).await
    }

    /// Fetches the per-user config, mainly the typing ticket.
    pub async fn get_config(
        &self,
        user: &str,
        context_token: Option<&Secret>,
    ) -> Result<GetConfigResponse> {
        let body = GetConfigRequest {
            ilink_user_id: user.to_owned(),
            context_token: context_token.cloned(),
            base_info: Some(self.config.base_info()),
        };
        self.post_bot_default(Endpoint::GetConfig, &body).await
    }

    /// Shows (`Typing`) or hides (`Cancel`) the typing indicator.
    pub async fn send_typing(
        &self,
        user: &str,
        ticket: &Secret,
        status: TypingStatus,
    ) -> Result<()> {
        let body = SendTypingRequest {
            ilink_user_id: user.to_owned(),
            typing_ticket: ticket.clone(),
            status,
            base_info: Some(self.config.base_info()),
        };
        let _: BaseResponse = self.post_bot_default(Endpoint::SendTyping, &body).await?;
        Ok(())
    }

    /// Asks where to upload a media blob. `base_info` is filled in.
    pub async fn get_upload_url(
        &self,
        mut req: GetUploadUrlRequest,
    ) -> Result<GetUploadUrlResponse> {
        req.base_info = Some(self.config.base_info());
        self.post_bot_default(Endpoint::GetUploadUrl, &req).await
    }

    /// Tells the server this client starts serving the account.
    pub async fn notify_start(&self) -> Result<()> {
        self.notify(Endpoint::NotifyStart).await
    }

    /// Tells the server this client stops serving the account.
    pub async fn notify_stop(&self) -> Result<()> {
        self.notify(Endpoint::NotifyStop).await
    }

    async fn notify(&self, endpoint: Endpoint) -> Result<()> {
        let body = BaseRequest {
            base_info: Some(self.config.base_info()),
        };
        let _: BaseResponse = self.post_bot_default(endpoint, &body).await?;
        Ok(())
    }

    /// Starts a QR login: returns the QR value and what to render.
    /// `local_tokens` are up to the 10 newest stored bot tokens (may be empty).
    pub async fn get_bot_qrcode(&self, local_tokens: &[Secret]) -> Result<GetBotQrcodeResponse> {
        let body = GetBotQrcodeRequest {
            local_token_list: local_tokens.iter().take(10).cloned().collect(),
        };
        let url = format!("{}?bot_type=3", self.config.url(Endpoint::GetBotQrcode));
        let bytes = serde_json::to_vec(&body).map_err(encode_error(Endpoint::GetBotQrcode))?;
        let request = self
            .http
            .post(url)
            .headers(self.headers(Auth::None, true))
            .body(bytes);
        self.execute(Endpoint::GetBotQrcode, request, None).await
    }

    /// Long-polls the state of a QR login, optionally answering a verify code.
    pub async fn get_qrcode_status(
        &self,
        qrcode: &Secret,
        verify_code: Option<&str>,
    ) -> Result<QrStatusResponse> {
        let mut query: Vec<(&str, &str)> = vec![("qrcode", qrcode.expose())];
        if let Some(code) = verify_code {
            query.push(("verify_code", code));
        }
        let request = self
            .http
            .get(self.config.url(Endpoint::GetQrcodeStatus))
            .query(&query)
            .headers(self.headers(Auth::None, false));
        self.execute(Endpoint::GetQrcodeStatus, request, None).await
    }

    async fn post_bot_default<Req: Serialize, Resp: DeserializeOwned + ApiStatus>(
        &self,
        endpoint: Endpoint,
        body: &Req,
    ) -> Result<Resp> {
        self.post_bot(endpoint, body, self.config.timeout(endpoint))
            .await
    }

    async fn post_bot<Req: Serialize, Resp: DeserializeOwned + ApiStatus>(
        &self,
        endpoint: Endpoint,
        body: &Req,
        timeout: Duration,
    ) -> Result<Resp> {
        let bytes = serde_json::to_vec(body).map_err(encode_error(endpoint))?;
        let request = match self.urls.get(&endpoint) {
            Some(url) => self.http.post(url.clone()),
            None => self.http.post(self.config.url(endpoint)),
        };
        let request = request.headers(self.headers(Auth::Bot, true)).body(bytes);
        self.execute(endpoint, request, Some(timeout)).await
    }

    /// Sends, reads, checks and decodes one exchange inside a tracing span.
    async fn execute<Resp: DeserializeOwned + ApiStatus>(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
        timeout: Option<Duration>,
    ) -> Result<Resp> {
        let timeout = timeout.unwrap_or_else(|| self.config.timeout(endpoint));
        let span = tracing::debug_span!(
            "ilink.request",
            endpoint = endpoint.name(),
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = async {
            let response = request
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| transport_error(endpoint, e))?;
            let status = response.status().as_u16();
            tracing::Span::current().record("status", status);
            if !(200..300).contains(&status) {
                return Err(status_error(endpoint, status, response, None).await);
            }
            let limit = self.config.max_response_bytes();
            let body = read_limited(endpoint, response, limit, || Error::BodyTooLarge {
                endpoint,
                limit,
            })
            .await?;
            decode_checked::<Resp>(endpoint, &body)
        }
        .instrument(span.clone())
        .await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        if let Err(err) = &result {
            span.in_scope(|| tracing::debug!(error = %err, "request failed"));
        }
        result
    }

    fn headers(&self, auth: Auth, json: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if json {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if auth == Auth::Bot {
            h.insert(
                HeaderName::from_static("authorizationtype"),
                HeaderValue::from_static(headers::AUTHORIZATION_TYPE_VALUE),
            );
            let token = self.config.token().map(|t| t.expose().trim()).unwrap_or("");
            if !token.is_empty() {
                // A token with bytes illegal in a header cannot be sent; the
                // server then answers as for a missing token, which is the
                // honest outcome.
                if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {token}")) {
                    v.set_sensitive(true);
                    h.insert(reqwest::header::AUTHORIZATION, v);
                }
            }
            h.insert(HeaderName::from_static("x-wechat-uin"), random_uin());
        }
        if let Ok(v) = HeaderValue::from_str(self.config.app_id()) {
            h.insert(HeaderName::from_static("ilink-app-id"), v);
        }
        h.insert(
            HeaderName::from_static("ilink-app-clientversion"),
            HeaderValue::from(self.config.client_version().packed()),
        );
        if let Some(tag) = self.config.route_tag() {
            if let Ok(v) = HeaderValue::from_str(tag) {
                h.insert(HeaderName::from_static("skroutetag"), v);
            }
        }
        h
    }
}

/// `X-WECHAT-UIN`: base64 of the decimal string of a fresh random u32.
fn random_uin() -> HeaderValue {
    let n: u32 = rand::rng().random();
    let encoded = BASE64.encode(n.to_string());
    // Base64 output is always a valid header value.
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("MA=="))
}

fn encode_error(endpoint: Endpoint) -> impl Fn(serde_json::Error) -> Error {
    move |e| Error::InvalidInput(format!("{endpoint}: request body cannot be encoded: {e}"))
}
