//! Connection settings shared by every request: hosts, credentials, the
//! client identity the server sees, and per-endpoint timeouts.
//!
//! ```
//! use std::time::Duration;
//! use ilink_core::config::{ApiConfig, ClientVersion};
//! use ilink_core::{Endpoint, Secret};
//!
//! let config = ApiConfig::builder()
//!     .base_url("http://127.0.0.1:8080/")
//!     .token(Secret::new("bot@im.bot:secret"))
//!     .route_tag("eu-1")
//!     .timeout(Endpoint::SendMessage, Duration::from_secs(5))
//!     .build()
//!     .unwrap();
//! assert_eq!(config.url(Endpoint::GetUpdates), "http://127.0.0.1:8080/ilink/bot/getupdates");
//! assert_eq!(config.timeout(Endpoint::SendMessage), Duration::from_secs(5));
//! assert_eq!("1.0.11".parse::<ClientVersion>().unwrap().packed(), 65547);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::agent::sanitize_bot_agent;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::types::BaseInfo;

/// Default API base URL.
pub const DEFAULT_BASE_URL: &str = "https://ilinkai.weixin.qq.com";
/// Default CDN base URL.
pub const DEFAULT_CDN_BASE_URL: &str = "https://novac2c.cdn.weixin.qq.com/c2c";
/// Default `iLink-App-Id`.
pub const DEFAULT_APP_ID: &str = "bot";
/// Default [`ApiConfig::max_response_bytes`]: 32 MiB, far above any real
/// answer (a batch of messages is a few KB; media travels through the CDN).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
/// Default [`ApiConfig::max_download_bytes`]: the server caps inbound media
/// at 100 MiB, and its ciphertext adds at most one 16-byte block of padding.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 100 * 1024 * 1024 + 16;

/// The client version the server sees in `iLink-App-ClientVersion` and
/// `base_info.channel_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl ClientVersion {
    /// The version of the official client whose protocol this crate speaks;
    /// the default, because the server knows it.
    pub const OFFICIAL: Self = Self::new(1, 0, 11);

    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// `major<<16 | minor<<8 | patch`, each part masked to 8 bits.
    pub fn packed(self) -> u32 {
        ((self.major & 0xff) << 16) | ((self.minor & 0xff) << 8) | (self.patch & 0xff)
    }
}

impl Default for ClientVersion {
    fn default() -> Self {
        Self::OFFICIAL
    }
}

impl fmt::Display for ClientVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for ClientVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidInput(format!("client version {s:?} is not MAJOR.MINOR.PATCH"));
        let mut parts = s.trim().split('.');
        let mut next = || -> Result<u32> {
            parts
                .next()
                .and_then(|p| p.parse::<u32>().ok())
                .ok_or_else(bad)
        };
        let v = Self::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

/// Everything a request needs besides its body. Build it with [`ApiConfig::builder`].
#[derive(Clone)]
pub struct ApiConfig {
    base_url: String,
    cdn_base_url: String,
    token: Option<Secret>,
    app_id: String,
    client_version: ClientVersion,
    channel_version: String,
    bot_agent: String,
    route_tag: Option<String>,
    timeouts: HashMap<Endpoint, Duration>,
    max_response_bytes: u64,
    max_download_bytes: u64,
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("base_url", &self.base_url)
            .field("cdn_base_url", &self.cdn_base_url)
            .field("token", &self.token)
            .field("app_id", &self.app_id)
            .field("client_version", &self.client_version)
            .field("channel_version", &self.channel_version)
            .field("bot_agent", &self.bot_agent)
            .field("route_tag", &self.route_tag)
            .field("timeouts", &self.timeouts)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_download_bytes", &self.max_download_bytes)
            .finish()
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        let version = ClientVersion::default();
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            cdn_base_url: DEFAULT_CDN_BASE_URL.to_owned(),
            token: None,
            app_id: DEFAULT_APP_ID.to_owned(),
            client_version: version,
            channel_version: version.to_string(),
            bot_agent: sanitize_bot_agent(""),
            route_tag: None,
            timeouts: HashMap::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
        }
    }
}

impl ApiConfig {
    /// A builder starting from the defaults of [`docs/protocol.md`](https://github.com/ilink-rs/ilink-rs/blob/main/docs/protocol.md#hosts)
    /// (hosts, headers, timeouts).
    pub fn builder() -> ApiConfigBuilder {
        ApiConfigBuilder::default()
    }

    /// The API base URL, as configured.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The CDN base URL, as configured.
    pub fn cdn_base_url(&self) -> &str {
        &self.cdn_base_url
    }

    /// The bot token, if any.
    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    /// `iLink-App-Id`.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The client version.
    pub fn client_version(&self) -> ClientVersion {
        self.client_version
    }

    /// `base_info.channel_version`.
    pub fn channel_version(&self) -> &str {
        &self.channel_version
    }

    /// The sanitized `base_info.bot_agent`.
    pub fn bot_agent(&self) -> &str {
        &self.bot_agent
    }

    /// The `SKRouteTag` header value, when configured.
    pub fn route_tag(&self) -> Option<&str> {
        self.route_tag.as_deref()
    }

    /// The timeout of a call: the override, else the official default.
    pub fn timeout(&self, endpoint: Endpoint) -> Duration {
        self.timeouts
            .get(&endpoint)
            .copied()
            .unwrap_or_else(|| endpoint.default_timeout())
    }

    /// The largest API answer body accepted, in bytes; a larger one fails
    /// with [`Error::BodyTooLarge`] without being buffered.
    pub fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }

    /// The largest CDN download accepted, in bytes; a larger one fails with
    /// [`Error::DownloadTooLarge`] without being buffered.
    pub fn max_download_bytes(&self) -> u64 {
        self.max_download_bytes
    }

    /// The full URL of an endpoint (without query).
    pub fn url(&self, endpoint: Endpoint) -> String {
        join_url(&self.base_url, endpoint.path())
    }

    /// The `base_info` every bot POST carries.
    pub fn base_info(&self) -> BaseInfo {
        BaseInfo {
            channel_version: self.channel_version.clone(),
            bot_agent: Some(self.bot_agent.clone()),
        }
    }

    /// A copy talking to another API host (login's redirect, a returned `baseurl`).
    pub fn with_base_url(&self, base_url: impl Into<String>) -> Result<Self> {
        let base_url = base_url.into();
        validate_url(&base_url, "base URL")?;
        Ok(Self {
            base_url,
            ..self.clone()
        })
    }

    /// A copy using another bot token.
    pub fn with_token(&self, token: Secret) -> Self {
        Self {
            token: Some(token),
            ..self.clone()
        }
    }
}

/// Joins a base URL and a relative path, whether or not the base ends in `/`.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

fn validate_url(url: &str, what: &str) -> Result<()> {
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::InvalidInput(format!("{what} {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::InvalidInput(format!(
            "{what} {url:?} must use http or https"
        )));
    }
    Ok(())
}

/// Builder of [`ApiConfig`]; every setting has the protocol's default.
#[derive(Clone, Debug, Default)]
pub struct ApiConfigBuilder {
    base_url: Option<String>,
    cdn_base_url: Option<String>,
    token: Option<Secret>,
    app_id: Option<String>,
    client_version: Option<ClientVersion>,
    channel_version: Option<String>,
    bot_agent: Option<String>,
    route_tag: Option<String>,
    timeouts: HashMap<Endpoint, Duration>,
    max_response_bytes: Option<u64>,
    max_download_bytes: Option<u64>,
}

impl ApiConfigBuilder {
    /// API base URL (default [`DEFAULT_BASE_URL`]); may end in `/` or not.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// CDN base URL (default [`DEFAULT_CDN_BASE_URL`]).
    pub fn cdn_base_url(mut self, url: impl Into<String>) -> Self {
        self.cdn_base_url = Some(url.into());
        self
    }

    /// Bot token; an empty one sends no `Authorization` header.
    pub fn token(mut self, token: impl Into<Secret>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// `iLink-App-Id` (default `bot`).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = Some(app_id.into());
        self
    }

    /// Client version (default [`ClientVersion::OFFICIAL`]).
    pub fn client_version(mut self, version: ClientVersion) -> Self {
        self.client_version = Some(version);
        self
    }

    /// `base_info.channel_version` (default: the client version as a string).
    pub fn channel_version(mut self, version: impl Into<String>) -> Self {
        self.channel_version = Some(version.into());
        self
    }

    /// `base_info.bot_agent`; sanitized, see [`crate::agent`].
    pub fn bot_agent(mut self, agent: impl Into<String>) -> Self {
        self.bot_agent = Some(agent.into());
        self
    }

    /// `SKRouteTag` header, sent only when set.
    pub fn route_tag(mut self, tag: impl Into<String>) -> Self {
        self.route_tag = Some(tag.into());
        self
    }

    /// Overrides the timeout of one endpoint.
    pub fn timeout(mut self, endpoint: Endpoint, timeout: Duration) -> Self {
        self.timeouts.insert(endpoint, timeout);
        self
    }

    /// The largest API answer body accepted (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = Some(bytes);
        self
    }

    /// The largest CDN download accepted (default [`DEFAULT_MAX_DOWNLOAD_BYTES`]).
    pub fn max_download_bytes(mut self, bytes: u64) -> Self {
        self.max_download_bytes = Some(bytes);
        self
    }

    /// Checks the URLs and builds the configuration.
    pub fn build(self) -> Result<ApiConfig> {
        let defaults = ApiConfig::default();
        let base_url = self.base_url.unwrap_or(defaults.base_url);
        let cdn_base_url = self.cdn_base_url.unwrap_or(defaults.cdn_base_url);
        validate_url(&base_url, "base URL")?;
        validate_url(&cdn_base_url, "CDN base URL")?;
        let client_version = self.client_version.unwrap_or(defaults.client_version);
        if let Some(tag) = &self.route_tag {
            reqwest::header::HeaderValue::from_str(tag)
                .map_err(|_| Error::InvalidInput("route tag is not a valid header value".into()))?;
        }
        let app_id = self.app_id.unwrap_or(defaults.app_id);
        reqwest::header::HeaderValue::from_str(&app_id)
            .map_err(|_| Error::InvalidInput("app id is not a valid header value".into()))?;
        Ok(ApiConfig {
            base_url,
            cdn_base_url,
            token: self.token,
            app_id,
            client_version,
            channel_version: self
                .channel_version
                .unwrap_or_else(|| client_version.to_string()),
            bot_agent: sanitize_bot_agent(self.bot_agent.as_deref().unwrap_or("")),
            route_tag: self.route_tag,
            timeouts: self.timeouts,
            max_response_bytes: self
                .max_response_bytes
                .unwrap_or(defaults.max_response_bytes),
            max_download_bytes: self
                .max_download_bytes
                .unwrap_or(defaults.max_download_bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_versions() {
        assert_eq!(ClientVersion::new(1, 0, 11).packed(), 65547);
        assert_eq!(ClientVersion::new(0x1ff, 0x100, 0x102).packed(), 0xff_00_02);
        assert_eq!(
            "2.3.4".parse::<ClientVersion>().unwrap().packed(),
            0x02_03_04
        );
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in ["", "1", "1.0", "1.0.x", "1.0.11.2", "-1.0.0"] {
            assert!(bad.parse::<ClientVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn joins_with_and_without_slash() {
        assert_eq!(join_url("http://h:1", "a/b"), "http://h:1/a/b");
        assert_eq!(join_url("http://h:1/", "a/b"), "http://h:1/a/b");
        assert_eq!(join_url("http://h:1/base/", "/a"), "http://h:1/base/a");
    }

    #[test]
    fn defaults_follow_the_protocol() {
        let c = ApiConfig::builder().build().unwrap();
        assert_eq!(c.base_url(), DEFAULT_BASE_URL);
        assert_eq!(c.cdn_base_url(), DEFAULT_CDN_BASE_URL);
        assert_eq!(c.app_id(), "bot");
        assert_eq!(c.channel_version(), "1.0.11");
        assert!(c.bot_agent().starts_with("ilink-rs/"));
        assert_eq!(c.timeout(Endpoint::GetUpdates), Duration::from_secs(35));
        assert!(c.route_tag().is_none());
        assert_eq!(c.max_response_bytes(), 32 * 1024 * 1024);
        assert_eq!(c.max_download_bytes(), 100 * 1024 * 1024 + 16);
        let c = ApiConfig::builder()
            .max_response_bytes(10)
            .max_download_bytes(20)
            .build()
            .unwrap();
        assert_eq!((c.max_response_bytes(), c.max_download_bytes()), (10, 20));
    }

    #[test]
    fn rejects_bad_urls_and_hides_the_token() {
        assert!(ApiConfig::builder().base_url("not a url").build().is_err());
        assert!(
            ApiConfig::builder()
                .cdn_base_url("ftp://x")
                .build()
                .is_err()
        );
        let c = ApiConfig::builder()
            .token("abcdefgh@im.bot:topsecretvalue")
            .build()
            .unwrap();
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
