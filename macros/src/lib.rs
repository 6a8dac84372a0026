//! Attribute macros for `ilink-framework` command routes.
//!
//! Use them through `ilink_framework` (`use ilink_framework::prelude::*;`),
//! which re-exports them; the guide is `docs/commands.md` in the repository.
//!
//! `#[commands]` on an impl block turns its methods into commands and writes
//! the `Handler` impl. As in poise, the macro does little: it describes each
//! command as a plain `CommandSpec` and generates calls into
//! `ilink_framework::command`, where matching, parsing, `/help`, checks'
//! errors and cooldowns are ordinary, unit-tested code.
//!
//! ```
//! use ilink_framework::prelude::*;
//!
//! struct Calc;
//!
//! #[commands(prefix = "/")]
//! impl Calc {
//!     /// Add two integers.
//!     #[command(aliases = ["plus"])]
//!     async fn add(&self, ctx: &mut Context, a: i64, b: i64) -> HandlerResult {
//!         ctx.reply(format!("{}", a + b)).await?;
//!         Ok(())
//!     }
//! }
//! ```

mod attrs;
mod expand;
mod model;

use proc_macro::TokenStream;

/// Declares the command routes of a bot: put it on an inherent impl block
/// and the type implements `Handler`.
///
/// Options: `prefix = "/"`, `rename_all = "kebab-case"` (also `snake_case`,
/// `lowercase`, `camelCase`), `help = false`, `crate = path`. Inside the
/// block: `#[command(name, aliases, description, hidden, check, cooldown)]`,
/// `#[arg(parse_with, rest)]` on parameters, `#[fallback]`, `#[skip]`, and
/// the hooks `#[on_error]`, `#[on_conversation_start]`,
/// `#[on_conversation_end]` and `#[on_account_event]`, which override the
/// `Handler` method of the same name. See `docs/commands.md` for each with an
/// example.
#[proc_macro_attribute]
pub fn commands(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::commands(args.into(), item.into()).into()
}

/// Options of one command; only meaningful on a method inside a
/// `#[commands]` impl block, which reads and removes it.
#[proc_macro_attribute]
pub fn command(_args: TokenStream, item: TokenStream) -> TokenStream {
    let mut out: TokenStream = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[command] only works on a method inside a `#[commands] impl …` block; \
         add #[commands] to the impl",
    )
    .to_compile_error()
    .into();
    out.extend(item);
    out
}

/// The README shown on crates.io: its examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
