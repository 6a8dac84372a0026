//! Decoding the JSON body of a bot's request, apart from the state the
//! endpoint then consults. The handlers call these functions, and so does the
//! fuzz target of the simulator's request parsing (through [`decode_all`]):
//! whatever a bot sends, the simulator answers it instead of panicking.

use ilink_core::crypto::{AesKey, ciphertext_size};
use ilink_core::types::{GetUploadUrlRequest, WeixinMessage};
use serde_json::Value;

/// Why a body is refused before its endpoint runs (`ret -3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Not JSON, or JSON but not an object.
    NotAnObject,
    /// No `base_info` object.
    NoBaseInfo,
}

/// A body that passed the checks every bot POST goes through.
#[derive(Debug)]
pub(crate) struct Body {
    pub(crate) value: Value,
    /// `base_info.bot_agent` is longer than 256 bytes or not ASCII: recorded,
    /// not refused.
    pub(crate) bad_agent: bool,
}

/// The checks of every bot POST body: a JSON object with a `base_info` object.
pub(crate) fn bot_body(body: &[u8]) -> Result<Body, BodyError> {
    let value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(BodyError::NotAnObject),
    };
    let Some(Value::Object(info)) = value.get("base_info") else {
        return Err(BodyError::NoBaseInfo);
    };
    let agent_ok = info
        .get("bot_agent")
        .and_then(Value::as_str)
        .is_none_or(|a| a.len() <= 256 && a.is_ascii());
    Ok(Body {
        bad_agent: !agent_ok,
        value,
    })
}

/// The cursor of a `getupdates` body; `None` when it is not a string.
pub(crate) fn updates_cursor(body: &Value) -> Option<String> {
    match body.get("get_updates_buf") {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => Some(String::new()),
        Some(_) => None,
    }
}

/// The message of a `sendmessage` body, when `msg` is an object that decodes.
pub(crate) fn send_message(body: &Value) -> Option<WeixinMessage> {
    body.get("msg")
        .filter(|m| m.is_object())
        .and_then(|m| serde_json::from_value::<WeixinMessage>(m.clone()).ok())
}

/// A `getuploadurl` body checked against itself: what the simulator needs
/// before it announces the upload.
#[derive(Debug)]
pub(crate) struct Upload {
    pub(crate) request: GetUploadUrlRequest,
    pub(crate) key: AesKey,
}

/// Decodes and checks a `getuploadurl` body; the error is the `errmsg`.
pub(crate) fn upload_request(body: Value) -> Result<Upload, String> {
    let request: GetUploadUrlRequest =
        serde_json::from_value(body).map_err(|e| format!("invalid getuploadurl body: {e}"))?;
    let key = AesKey::from_hex(request.aeskey.expose())
        .map_err(|_| "aeskey is not 32 hex characters".to_owned())?;
    if Some(request.filesize) != ciphertext_size(request.rawsize) {
        return Err(format!(
            "filesize {} is not the ciphertext size of rawsize {}",
            request.filesize, request.rawsize
        ));
    }
    if request.filekey.is_empty() || request.rawfilemd5.len() != 32 {
        return Err("filekey empty or rawfilemd5 not an MD5 hex".into());
    }
    Ok(Upload { request, key })
}

/// Runs a body through the decoding of every bot endpoint. For the fuzz
/// target and its corpus replay; not for use by tests of a bot.
#[doc(hidden)]
pub fn decode_all(body: &[u8]) {
    let Ok(body) = bot_body(body) else { return };
    let _ = updates_cursor(&body.value);
    let _ = send_message(&body.value);
    let _ = upload_request(body.value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_must_be_an_object_with_base_info() {
        assert_eq!(bot_body(b"[1]").unwrap_err(), BodyError::NotAnObject);
        assert_eq!(bot_body(b"{").unwrap_err(), BodyError::NotAnObject);
        assert_eq!(bot_body(b"{}").unwrap_err(), BodyError::NoBaseInfo);
        let body = bot_body(br#"{"base_info":{"bot_agent":"caf\u00e9"}}"#).unwrap();
        assert!(body.bad_agent);
        assert!(!bot_body(br#"{"base_info":{}}"#).unwrap().bad_agent);
    }

    #[test]
    fn the_cursor_must_be_a_string() {
        let cursor = |json: &str| updates_cursor(&serde_json::from_str(json).unwrap());
        assert_eq!(cursor(r#"{"get_updates_buf":"c"}"#).as_deref(), Some("c"));
        assert_eq!(cursor(r#"{"get_updates_buf":null}"#).as_deref(), Some(""));
        assert_eq!(cursor(r#"{"get_updates_buf":1}"#), None);
    }

    #[test]
    fn an_upload_whose_rawsize_has_no_ciphertext_size_is_refused() {
        // Found by fuzzing: `(rawsize / 16 + 1) * 16` overflowed and panicked.
        let body = serde_json::json!({
            "filekey": "k", "media_type": 1, "to_user_id": "u", "rawsize": u64::MAX,
            "rawfilemd5": "0".repeat(32), "filesize": 0, "aeskey": "0".repeat(32),
        });
        let err = upload_request(body).unwrap_err();
        assert!(
            err.starts_with("filesize 0 is not the ciphertext size"),
            "{err}"
        );
    }
}
