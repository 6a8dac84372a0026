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
//! The pieces: [`spec`] describes commands, [`set`] registers and matches
//! them, [`lex`] tokenizes arguments, [`args`] converts them to types,
//! [`help`] writes `/help`, [`cooldown`] limits how often a user may run a
//! command, [`error`] holds what can go wrong, and [`dispatch`] ties them
//! together for the code the macro generates.

pub mod args;
pub mod cooldown;
pub mod dispatch;
pub mod error;
pub mod help;
pub mod lex;
pub mod set;
pub mod spec;

pub use args::{Args, ParseArg};
pub use cooldown::{Clock, Cooldowns, ManualClock, SystemClock};
pub use dispatch::{Route, Router, RouterBuilder};
pub use error::{CommandError, SpecError};
pub use help::help_spec;
pub use lex::{LexError, Lexer, Token};
pub use set::{CommandSet, DEFAULT_PREFIX, Invocation};
pub use spec::{ArgKind, ArgSpec, CommandSpec};
