//! Account identity and credentials.

use std::fmt;
use std::sync::Arc;

use ilink_core::Secret;
use serde::{Deserialize, Serialize};

/// A bot account id (`ilink_bot_id`, e.g. `e06c1ceea05e@im.bot`). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(Arc<str>);

impl AccountId {
    /// Wraps an account id.
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }

    /// The id as sent by the server.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", &self.0)
    }
}

impl From<&str> for AccountId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for AccountId {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

/// What is needed to run one bot account: the result of a QR login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The bot account id.
    pub account_id: AccountId,
    /// The bearer token; a secret.
    pub bot_token: Secret,
    /// API base URL returned by login; `None` means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// CDN base URL; `None` means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdn_base_url: Option<String>,
    /// The person who scanned the QR code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl Credentials {
    /// Credentials for `account_id` with `token` at the default URLs.
    pub fn new(account_id: impl Into<AccountId>, token: impl Into<Secret>) -> Self {
        Self {
            account_id: account_id.into(),
            bot_token: token.into(),
            base_url: None,
            cdn_base_url: None,
            user_id: None,
        }
    }

    /// Sets the API base URL.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Sets the CDN base URL.
    pub fn with_cdn_base_url(mut self, url: impl Into<String>) -> Self {
        self.cdn_base_url = Some(url.into());
        self
    }
}
