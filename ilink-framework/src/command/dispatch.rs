//! The glue the `#[commands]` macro generates calls into: from a message
//! text to "run command number `i` with these arguments", or to what went
//! wrong as a [`CommandError`].
//!
//! A [`Router`] owns the [`CommandSet`], the built-in `/help` and the
//! per-user [`Cooldowns`]. The generated `Handler::handle` asks it to
//! [`route`](Router::route) the text, converts the arguments it gets back
//! with [`Args::get`], runs the command's checks, starts the cooldown with
//! [`Router::start_cooldown`] and calls the method. Everything that decides
//! something lives here, in plain code with unit tests; the macro only
//! writes the calls.
//!
//! ```
//! use ilink_framework::command::__private::{Route, Router};
//! use ilink_framework::command::{ArgSpec, CommandSpec};
//!
//! let router = Router::builder("/")
//!     .command(CommandSpec::new("add").arg(ArgSpec::required("a", "i64")).arg(ArgSpec::required("b", "i64")))
//!     .build()
//!     .unwrap();
//! match router.route("/add 40 2") {
//!     Route::Command { index: 0, args } => {
//!         assert_eq!(args.get::<i64>(0).unwrap() + args.get::<i64>(1).unwrap(), 42);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(router.route("hello"), Route::NotACommand));
//! assert!(matches!(router.route("/help"), Route::Reply(_)));
//! ```

use super::args::Args;
use super::cooldown::{Clock, Cooldowns, SystemClock};
use super::error::{CommandError, SpecError};
use super::help::help_spec;
use super::set::CommandSet;
use super::spec::CommandSpec;

/// The commands of one handler type, with `/help` and cooldowns.
#[derive(Debug)]
pub struct Router {
    set: CommandSet,
    /// Index of the built-in help command in the set, when it is served.
    help: Option<usize>,
    cooldowns: Cooldowns,
}

/// Collects the commands of a [`Router`].
#[derive(Debug, Clone)]
pub struct RouterBuilder {
    prefix: String,
    specs: Vec<CommandSpec>,
    help: bool,
}

/// What to do with a message text.
#[derive(Debug)]
pub enum Route<'r, 'i> {
    /// Not addressed to the commands: the fallback handles it, if any.
    NotACommand,
    /// Answer with this text (the built-in `/help`).
    Reply(String),
    /// Run the command registered `index`-th (counting from 0, in the order
    /// of [`RouterBuilder::command`]) with these arguments.
    Command {
        /// Which command.
        index: usize,
        /// Its arguments, split but not yet converted.
        args: Args<'r, 'i>,
    },
    /// The text names no command: for `Handler::on_error`, inside
    /// `FrameworkError::Command`.
    Error(CommandError),
    /// The text names command `index` but its arguments do not split (an
    /// unclosed quote, too many): the command's checks run first, so a user
    /// who may not run it is refused rather than shown its usage; then the
    /// error goes to `Handler::on_error`.
    ArgsError {
        /// Which command.
        index: usize,
        /// Why its arguments do not fit.
        error: CommandError,
    },
}

impl Router {
    /// A builder for a router whose commands start with `prefix`.
    pub fn builder(prefix: impl Into<String>) -> RouterBuilder {
        RouterBuilder {
            prefix: prefix.into(),
            specs: Vec::new(),
            help: true,
        }
    }
}

impl RouterBuilder {
    /// Adds a command; its index in [`Route::Command`] is the number of
    /// commands added before it.
    pub fn command(mut self, spec: CommandSpec) -> Self {
        self.specs.push(spec);
        self
    }

    /// Whether to serve `/help` and `/help <command>` (default: yes). A
    /// command of the application named or aliased `help` replaces it.
    pub fn help(mut self, help: bool) -> Self {
        self.help = help;
        self
    }

    /// The router on the system clock; fails like [`CommandSet::add`].
    pub fn build(self) -> Result<Router, SpecError> {
        self.build_with_clock(SystemClock)
    }

    /// The router with cooldowns on `clock`.
    pub(crate) fn build_with_clock(self, clock: impl Clock + 'static) -> Result<Router, SpecError> {
        let mut set = CommandSet::with_prefix(self.prefix);
        for spec in self.specs {
            set.add(spec)?;
        }
        let help = if self.help && set.get("help").is_none() {
            set.add(help_spec())?;
            Some(set.specs().len() - 1)
        } else {
            None
        };
        Ok(Router {
            set,
            help,
            cooldowns: Cooldowns::with_clock(clock),
        })
    }
}

impl Router {
    /// The commands (the built-in help included, last).
    pub fn set(&self) -> &CommandSet {
        &self.set
    }

    /// The spec of command `index`.
    pub fn spec(&self, index: usize) -> Option<&CommandSpec> {
        self.set.specs().get(index)
    }

    /// Decides what a text is: see [`Route`].
    ///
    /// With an empty prefix every text looks like a command, so a first word
    /// that names no command is ordinary conversation (`NotACommand`), not
    /// an unknown command.
    pub fn route<'r, 'i>(&'r self, text: &'i str) -> Route<'r, 'i> {
        let invocation = match self.set.find(text) {
            Ok(Some(invocation)) => invocation,
            Ok(None) => return Route::NotACommand,
            Err(CommandError::UnknownCommand { .. }) if self.set.prefix().is_empty() => {
                return Route::NotACommand;
            }
            Err(e) => return Route::Error(e),
        };
        // `find` hands out a spec of this set, so the position is found.
        let index = self
            .set
            .specs()
            .iter()
            .position(|s| std::ptr::eq(s, invocation.spec))
            .unwrap_or(usize::MAX);
        let args = match invocation.split_args() {
            Ok(args) => args,
            Err(error) if Some(index) != self.help => return Route::ArgsError { index, error },
            Err(e) => return Route::Error(e),
        };
        if Some(index) == self.help {
            return Route::Reply(self.set.help_reply(args.raw(0)));
        }
        Route::Command { index, args }
    }

    /// Starts the cooldown of command `index` for `user` of `account`, or
    /// says how long they must still wait. Cooldowns are per account and per
    /// user: the same person talking to two bot accounts waits separately.
    pub fn start_cooldown(
        &self,
        index: usize,
        account: &str,
        user: &str,
    ) -> Result<(), CommandError> {
        let Some(spec) = self.spec(index) else {
            return Ok(());
        };
        // NUL cannot occur in either id, so the joined key is unambiguous.
        let key = format!("{account}\0{user}");
        self.cooldowns.check(spec, &key)
    }

    /// The error for a check of command `index` that refused.
    pub fn check_failed(&self, index: usize) -> CommandError {
        CommandError::CheckFailed {
            command: self.spec(index).map_or("", |s| s.name.as_str()).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::command::ArgSpec;
    use crate::command::cooldown::ManualClock;
    use crate::error::FrameworkError;

    fn builder() -> RouterBuilder {
        Router::builder("/")
            .command(
                CommandSpec::new("add")
                    .alias("plus")
                    .docs("Add two integers.")
                    .arg(ArgSpec::required("a", "i64"))
                    .arg(ArgSpec::required("b", "i64")),
            )
            .command(
                CommandSpec::new("roll")
                    .cooldown(Duration::from_secs(10))
                    .arg(ArgSpec::optional("sides", "u32")),
            )
    }

    fn command(route: Route<'_, '_>) -> (usize, Vec<Option<String>>) {
        match route {
            Route::Command { index, args } => {
                let raw = (0..args.spec().args.len())
                    .map(|i| args.raw(i).map(str::to_owned))
                    .collect();
                (index, raw)
            }
            other => panic!("expected a command, got {other:?}"),
        }
    }

    #[test]
    fn commands_are_found_by_index() {
        let router = builder().build().unwrap();
        assert_eq!(
            command(router.route("／PLUS 1 “2”")),
            (0, vec![Some("1".into()), Some("2".into())])
        );
        assert_eq!(command(router.route("/roll")), (1, vec![None]));
        assert!(matches!(router.route("hi /add"), Route::NotACommand));
        assert!(matches!(router.route("/"), Route::NotACommand));
    }

    #[test]
    fn unknown_commands_and_bad_arguments_are_errors() {
        let router = builder().build().unwrap();
        match router.route("/sub 1 2") {
            Route::Error(CommandError::UnknownCommand { name, help }) => {
                assert_eq!(&*name, "sub");
                assert_eq!(help.as_deref(), Some("/help"));
            }
            other => panic!("{other:?}"),
        }
        // Arguments that do not fit name their command, whose checks run
        // before the error is reported.
        match router.route("/add 1") {
            Route::ArgsError {
                index: 0,
                error: e @ CommandError::MissingArgument { .. },
            } => assert_eq!(
                e.user_message(),
                "missing argument <b>\nUsage: /add <a> <b>"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn typed_conversion_errors_carry_the_usage() {
        let router = builder().build().unwrap();
        let Route::Command { args, .. } = router.route("/add 1 x") else {
            panic!("expected a command");
        };
        let error = FrameworkError::from(args.get::<i64>(1).unwrap_err());
        assert_eq!(
            error.user_message(),
            "invalid <b>: `x` is not a valid i64 (invalid digit found in string)\n\
             Usage: /add <a> <b>"
        );
        assert!(matches!(
            error,
            FrameworkError::Command(CommandError::BadArgument { ref command, .. }) if &**command == "add"
        ));
    }

    #[test]
    fn help_is_served_and_can_be_turned_off() {
        let router = builder().build().unwrap();
        let Route::Reply(list) = router.route("/help") else {
            panic!("expected the help list");
        };
        assert!(list.starts_with("Commands:\n/add <a> <b> — Add two integers."));
        assert!(list.contains("/help [command]"));
        let Route::Reply(one) = router.route("/HELP plus") else {
            panic!("expected one command's help");
        };
        assert_eq!(one, "/add <a> <b>\n\nAdd two integers.\n\nAliases: /plus");
        assert!(matches!(
            router.route("/help a b"),
            Route::Error(CommandError::TooManyArguments { .. })
        ));

        let router = builder().help(false).build().unwrap();
        assert!(matches!(
            router.route("/help"),
            Route::Error(CommandError::UnknownCommand { help: None, .. })
        ));
        assert_eq!(router.set().specs().len(), 2);
    }

    #[test]
    fn a_command_named_help_wins() {
        let router = builder()
            .command(CommandSpec::new("manual").alias("HELP"))
            .build()
            .unwrap();
        assert_eq!(command(router.route("/help")), (2, vec![]));
        assert_eq!(router.set().specs().len(), 3);
    }

    #[test]
    fn empty_prefix_leaves_unknown_words_to_the_fallback() {
        let router = Router::builder("")
            .command(CommandSpec::new("ping"))
            .build()
            .unwrap();
        assert_eq!(command(router.route("PING")), (0, vec![]));
        assert!(matches!(router.route("hello there"), Route::NotACommand));
        assert!(matches!(router.route("help"), Route::Reply(_)));
    }

    #[test]
    fn cooldowns_are_per_account_and_user() {
        let clock = ManualClock::new();
        let router = builder().build_with_clock(clock.clone()).unwrap();
        assert!(router.start_cooldown(1, "bot1", "u1").is_ok());
        match router.start_cooldown(1, "bot1", "u1") {
            Err(CommandError::Cooldown { command, remaining }) => {
                assert_eq!(&*command, "roll");
                assert_eq!(remaining, Duration::from_secs(10));
            }
            other => panic!("{other:?}"),
        }
        assert!(router.start_cooldown(1, "bot1", "u2").is_ok());
        assert!(router.start_cooldown(1, "bot2", "u1").is_ok());
        // Commands without a cooldown and unknown indexes always pass.
        assert!(router.start_cooldown(0, "bot1", "u1").is_ok());
        assert!(router.start_cooldown(0, "bot1", "u1").is_ok());
        assert!(router.start_cooldown(99, "bot1", "u1").is_ok());
        clock.advance(Duration::from_secs(10));
        assert!(router.start_cooldown(1, "bot1", "u1").is_ok());
    }

    #[test]
    fn check_failures_name_the_command() {
        let router = builder().build().unwrap();
        assert!(matches!(
            router.check_failed(1),
            CommandError::CheckFailed { ref command } if &**command == "roll"
        ));
    }

    #[test]
    fn invalid_specs_fail_the_build() {
        let dup = Router::builder("/")
            .command(CommandSpec::new("a"))
            .command(CommandSpec::new("b").alias("A"))
            .build();
        assert!(matches!(dup, Err(SpecError::DuplicateName { .. })));
    }

    #[test]
    fn every_command_error_reaches_on_error_as_itself() {
        let errors = [
            CommandError::UnknownCommand {
                name: "x".into(),
                help: None,
            },
            CommandError::Cooldown {
                command: "c".into(),
                remaining: Duration::from_secs(3),
            },
            CommandError::CheckFailed {
                command: "c".into(),
            },
            CommandError::TooManyArguments {
                command: "c".into(),
                extra: "e".into(),
                usage: "/c".into(),
            },
        ];
        for error in errors {
            let message = error.user_message();
            let converted = FrameworkError::from(error.clone());
            assert_eq!(converted.user_message(), message);
            assert!(matches!(converted, FrameworkError::Command(ref e) if *e == error));
        }
        let converted = FrameworkError::from(CommandError::TooManyArguments {
            command: "c".into(),
            extra: "e".into(),
            usage: "/c".into(),
        });
        assert!(matches!(
            converted,
            FrameworkError::Command(ref e) if e.usage() == Some("/c")
        ));
    }
}
