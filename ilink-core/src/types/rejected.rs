//! A message of a `getupdates` batch that could not be decoded, kept as
//! received so that it is not lost with the rest of its batch.
//!
//! ```
//! use ilink_core::types::GetUpdatesResponse;
//! let batch: GetUpdatesResponse = serde_json::from_str(
//!     r#"{"msgs":[{"message_id":1},{"message_id":"x","context_token":"secret"}],"get_updates_buf":"c"}"#,
//! ).unwrap();
//! assert_eq!(batch.msgs.len(), 1);
//! let bad = &batch.rejected[0];
//! assert_eq!(bad.index, 1);
//! assert!(bad.shape().contains(r#""context_token":"<6 chars>""#));
//! assert!(bad.error.starts_with("message_id: "), "{}", bad.error);
//! assert!(!format!("{bad:?}").contains("secret"));
//! ```

use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::error::redact_quoted;

/// How many characters [`RejectedMessage::shape`] writes at most.
pub const SHAPE_LIMIT: usize = 512;

/// One message of a batch that did not decode; the others decoded without it.
#[derive(Clone, PartialEq, Eq)]
pub struct RejectedMessage {
    /// Its position in the batch's `msgs`.
    pub index: usize,
    /// Its JSON text as received. It may hold a context token: never log it,
    /// log [`RejectedMessage::shape`] instead.
    pub raw: String,
    /// What did not decode, and where; string values are left out.
    pub error: String,
}

impl RejectedMessage {
    /// Keeps a message that failed to decode with `err`.
    pub(crate) fn new(index: usize, raw: String, err: &serde_json::Error) -> Self {
        Self {
            index,
            error: describe(&raw, err),
            raw,
        }
    }

    /// The JSON structure of [`raw`](Self::raw) for logs: every string is
    /// replaced by `"<N chars>"`, numbers, booleans and keys are kept, and
    /// the result is cut after [`SHAPE_LIMIT`] characters.
    pub fn shape(&self) -> String {
        match serde_json::from_str::<Value>(&self.raw) {
            Ok(value) => {
                let mut shape = Shape::default();
                // Only fails once the limit is reached, which ends the walk.
                let _ = shape.write(&value);
                shape.finish()
            }
            Err(_) => format!("<{} bytes, not JSON>", self.raw.len()),
        }
    }
}

impl fmt::Debug for RejectedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RejectedMessage")
            .field("index", &self.index)
            .field("raw", &format_args!("<{} bytes>", self.raw.len()))
            .field("shape", &format_args!("{}", self.shape()))
            .field("error", &self.error)
            .finish()
    }
}

/// The decoder's message with the path of the failing field in front; the
/// message is redacted, since serde quotes the string values it refuses.
fn describe(raw: &str, err: &serde_json::Error) -> String {
    let message = redact_quoted(&err.to_string());
    // Decoding again to learn the path costs nothing on the normal path, and
    // a rejected message is rare.
    let mut de = serde_json::Deserializer::from_str(raw);
    match serde_path_to_error::deserialize::<_, super::WeixinMessage>(&mut de) {
        Err(e) if e.path().iter().next().is_some() => format!("{}: {message}", e.path()),
        _ => message,
    }
}

/// Writes a shape, refusing to grow past [`SHAPE_LIMIT`].
#[derive(Default)]
struct Shape {
    out: String,
    cut: bool,
}

/// The limit was reached.
struct Full;

impl Shape {
    fn push(&mut self, text: &str) -> Result<(), Full> {
        if self.out.len() + text.len() > SHAPE_LIMIT {
            self.cut = true;
            return Err(Full);
        }
        self.out.push_str(text);
        Ok(())
    }

    fn write(&mut self, value: &Value) -> Result<(), Full> {
        match value {
            Value::String(s) => self.push(&format!("\"<{} chars>\"", s.chars().count())),
            Value::Array(items) => {
                self.push("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(",")?;
                    }
                    self.write(item)?;
                }
                self.push("]")
            }
            Value::Object(map) => {
                self.push("{")?;
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        self.push(",")?;
                    }
                    let mut quoted = String::new();
                    let _ = write!(quoted, "{}:", Value::from(key.as_str()));
                    self.push(&quoted)?;
                    self.write(item)?;
                }
                self.push("}")
            }
            scalar => self.push(&scalar.to_string()),
        }
    }

    fn finish(mut self) -> String {
        if self.cut {
            self.out.push('…');
        }
        self.out
    }
}
