//! Command routes: matching `/name args…` texts, parsing typed arguments,
//! `/help`, cooldowns.
//!
//! As in poise, the `#[commands]` macro does little: it describes each
//! command as a plain [`CommandSpec`] and generates glue that calls the
//! ordinary, unit-tested code of this module. A round trip by hand:
//!
//! ```
//! use ilink_framework::command::{ArgSpec, CommandError, CommandSet, CommandSpec};
//!
//! let mut commands = CommandSet::new();
//! commands
//!     .add(
//!         CommandSpec::new("add")
//!             .alias("plus")
//!             .docs("Add two integers.")
//!             .arg(ArgSpec::required("a", "i64"))
//!             .arg(ArgSpec::required("b", "i64")),
//!     )
//!     .unwrap();
//!
//! // What the generated glue does with an incoming text:
//! let reply = |text: &str| -> Result<Option<String>, CommandError> {
//!     let Some(invocation) = commands.find(text)? else {
//!         return Ok(None); // to the fallback
//!     };
//!     let args = invocation.split_args()?;
//!     let (a, b): (i64, i64) = (args.get(0)?, args.get(1)?);
//!     Ok(Some((a + b).to_string()))
//! };
//!
//! assert_eq!(reply("／plus 40 2").unwrap().as_deref(), Some("42"));
//! assert_eq!(reply("hello").unwrap(), None);
//! assert_eq!(reply("/sub 1 2").unwrap_err().user_message(), "Unknown command: sub.");
//! assert_eq!(
//!     reply("/add 1").unwrap_err().user_message(),
//!     "missing argument <b>\nUsage: /add <a> <b>"
//! );
//! ```
//!
//! What is public is what an application uses: [`CommandError`] to answer
//! failures, [`ParseArg`] and [`Args`] for argument types of its own,
//! [`CommandSpec`] and [`CommandSet`] to describe and match commands without
//! the macro. The glue the macro generates calls is hidden.

mod args;
mod cooldown;
mod dispatch;
mod error;
mod help;
mod lex;
mod set;
mod spec;

pub use args::{Args, ParseArg};
pub use error::{CommandError, SpecError};
pub use set::{CommandSet, Invocation};
pub use spec::{ArgKind, ArgSpec, CommandSpec};

/// What the code of `#[commands]` calls: routing a text, `/help`,
/// cooldowns. Not for use by hand; it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use super::dispatch::{Route, Router, RouterBuilder};
}
