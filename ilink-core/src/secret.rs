//! A string that must never reach logs: bot tokens, context tokens, QR values,
//! typing tickets, CDN query parameters and AES keys.
//!
//! `Debug` and `Display` show at most a short prefix and the length, so a
//! `tracing::debug!("{msg:?}")` on a whole message is safe.
//!
//! ```
//! use ilink_core::Secret;
//! let token = Secret::new("abc123@im.bot:verysecretvalue");
//! assert_eq!(token.expose(), "abc123@im.bot:verysecretvalue");
//! assert!(!format!("{token:?}").contains("verysecret"));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string: serialized as-is on the wire, redacted everywhere else.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value that must stay out of logs.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the wire or for storage. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the wrapper and returns the real value.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length of the secret in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// A log-safe description: a short prefix (only for long values) and the length.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

/// Describes a secret value without revealing it: `"abcd…(40 bytes)"`.
///
/// Values shorter than 16 bytes show no prefix at all, since four characters
/// of a short value give away too much of it.
pub fn redact(value: &str) -> String {
    if value.is_empty() {
        return "<empty>".to_owned();
    }
    if value.len() < 16 {
        return format!("<{} bytes>", value.len());
    }
    let prefix: String = value.chars().take(4).collect();
    format!("{prefix}…<{} bytes>", value.len())
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", redact(&self.0))
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("0123456789abcdefSECRETPART");
        let dbg = format!("{s:?}");
        let disp = format!("{s}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert!(!disp.contains("SECRET"), "{disp}");
        assert!(dbg.contains("26 bytes"), "{dbg}");
        assert!(disp.starts_with("0123"), "{disp}");
    }

    #[test]
    fn short_values_show_no_prefix() {
        assert_eq!(redact("tok"), "<3 bytes>");
        assert_eq!(redact(""), "<empty>");
    }

    #[test]
    fn prefix_respects_char_boundaries() {
        let s = redact("密钥密钥密钥密钥密钥密钥");
        assert!(s.starts_with("密钥密钥…"), "{s}");
    }

    #[test]
    fn serializes_transparently() {
        let s = Secret::new("ctx-token");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"ctx-token\"");
        let back: Secret = serde_json::from_str("\"ctx-token\"").unwrap();
        assert_eq!(back, s);
    }
}
