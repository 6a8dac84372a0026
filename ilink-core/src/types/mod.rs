//! Wire types of the iLink Bot protocol: messages, items, and the request and
//! response body of every endpoint.
//!
//! ```
//! use ilink_core::types::WeixinMessage;
//! let m: WeixinMessage = serde_json::from_str(
//!     r#"{"message_id":"7489534892789344264","item_list":[{"type":1,"text_item":{"text":"hi"}}]}"#,
//! ).unwrap();
//! assert_eq!(m.message_id, Some(7489534892789344264));
//! assert_eq!(m.text().as_deref(), Some("hi"));
//! ```

mod api;
mod enums;
mod items;
pub mod lenient;
mod message;
mod rejected;
pub mod repair;

pub use api::*;
pub use enums::*;
pub use items::*;
pub use message::*;
pub use rejected::{RejectedMessage, SHAPE_LIMIT};

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod item_bytes_tests;
#[cfg(test)]
mod tests;
