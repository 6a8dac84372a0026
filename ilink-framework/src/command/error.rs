//! What can go wrong with a command.
//!
//! Every failure a user can cause by typing a command is one variant of
//! [`CommandError`]. It reaches `Handler::on_error` as
//! `FrameworkError::Command`, so an application can match on the variant
//! and still answer with the default text: [`Display`](std::fmt::Display)
//! is the sentence for the user, and [`CommandError::user_message`] adds the
//! usage line where there is one.

use std::time::Duration;

/// A command invocation that cannot run.
///
/// The texts are `Box<str>` rather than `String` to keep the error small:
/// it travels in the `Err` of every parsing step.
///
/// ```
/// use ilink_framework::command::{CommandError, CommandSet, CommandSpec};
///
/// let mut set = CommandSet::new();
/// set.add(CommandSpec::new("ping")).unwrap();
/// let error = set.find("/pong").unwrap_err();
/// assert!(matches!(error, CommandError::UnknownCommand { ref name, .. } if &**name == "pong"));
/// assert_eq!(error.to_string(), "Unknown command: pong.");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The text starts with the prefix, but no command has that name.
    #[error("Unknown command: {name}.{}", send_help(.help.as_deref()))]
    UnknownCommand {
        /// The command word as typed, without the prefix.
        name: Box<str>,
        /// How to ask for the list of commands (`/help`), when there is one.
        help: Option<Box<str>>,
    },
    /// An argument was given but could not be converted to its type.
    #[error("invalid <{arg}>: `{value}` is not a valid {expected} ({reason})")]
    BadArgument {
        /// The canonical command name.
        command: Box<str>,
        /// The argument name.
        arg: Box<str>,
        /// The argument's type as written in the source.
        expected: Box<str>,
        /// The argument text as typed (quotes removed).
        value: Box<str>,
        /// The parser's explanation.
        reason: Box<str>,
        /// The usage line.
        usage: Box<str>,
    },
    /// A required argument was not given.
    #[error("missing argument <{arg}>")]
    MissingArgument {
        /// The canonical command name.
        command: Box<str>,
        /// The argument name.
        arg: Box<str>,
        /// The usage line.
        usage: Box<str>,
    },
    /// More arguments were given than the command takes.
    #[error("too many arguments: `{extra}` was not expected")]
    TooManyArguments {
        /// The canonical command name.
        command: Box<str>,
        /// The first argument that was not expected.
        extra: Box<str>,
        /// The usage line.
        usage: Box<str>,
    },
    /// A quoted argument was not closed.
    #[error("unterminated quote: the {quote} is never closed")]
    UnterminatedQuote {
        /// The canonical command name.
        command: Box<str>,
        /// The opening quote character.
        quote: char,
        /// Where it is: the number of characters before it in the
        /// arguments, leading whitespace not counted (characters rather
        /// than bytes, so it can be shown to a person).
        position: usize,
        /// The usage line.
        usage: Box<str>,
    },
    /// A check of the command refused the sender.
    #[error("You are not allowed to use the {command} command.")]
    CheckFailed {
        /// The canonical command name.
        command: Box<str>,
    },
    /// The user used the command too recently.
    #[error("The {command} command is cooling down; try again in {}s.", ceil_secs(.remaining))]
    Cooldown {
        /// The canonical command name.
        command: Box<str>,
        /// How long until the command may be used again.
        remaining: Duration,
    },
}

impl CommandError {
    /// The canonical name of the command, when one was found.
    pub fn command(&self) -> Option<&str> {
        match self {
            CommandError::UnknownCommand { .. } => None,
            CommandError::BadArgument { command, .. }
            | CommandError::MissingArgument { command, .. }
            | CommandError::TooManyArguments { command, .. }
            | CommandError::UnterminatedQuote { command, .. }
            | CommandError::CheckFailed { command }
            | CommandError::Cooldown { command, .. } => Some(command),
        }
    }

    /// The usage line, for the errors about arguments.
    pub fn usage(&self) -> Option<&str> {
        match self {
            CommandError::BadArgument { usage, .. }
            | CommandError::MissingArgument { usage, .. }
            | CommandError::TooManyArguments { usage, .. }
            | CommandError::UnterminatedQuote { usage, .. } => Some(usage),
            _ => None,
        }
    }

    /// The reply a user should see: the message, then the usage line when
    /// there is one.
    pub fn user_message(&self) -> String {
        match self.usage() {
            Some(usage) => format!("{self}\nUsage: {usage}"),
            None => self.to_string(),
        }
    }
}

/// The hint after "Unknown command: x.", when there is a help command.
fn send_help(help: Option<&str>) -> String {
    help.map(|help| format!(" Send {help} to see the commands."))
        .unwrap_or_default()
}

/// Whole seconds, rounded up, so that "wait 0s" is never said.
fn ceil_secs(duration: &Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// A [`CommandSpec`](super::CommandSpec) that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A name or alias is empty or contains whitespace.
    #[error("invalid command name `{name}`")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// A name or alias is already taken (names compare case-insensitively).
    #[error("command name `{name}` is registered twice")]
    DuplicateName {
        /// The offending name.
        name: String,
    },
    /// The arguments cannot be parsed unambiguously.
    #[error("command `{command}`, argument `{arg}`: {reason}")]
    InvalidArgs {
        /// The command name.
        command: String,
        /// The offending argument.
        arg: String,
        /// Why it is not allowed.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_usage() {
        let e = CommandError::MissingArgument {
            command: "add".into(),
            arg: "b".into(),
            usage: "/add <a> <b>".into(),
        };
        assert_eq!(
            e.user_message(),
            "missing argument <b>\nUsage: /add <a> <b>"
        );
        assert_eq!(e.command(), Some("add"));
        let e = CommandError::Cooldown {
            command: "add".into(),
            remaining: Duration::from_millis(300),
        };
        assert_eq!(
            e.user_message(),
            "The add command is cooling down; try again in 1s."
        );
        assert_eq!(e.usage(), None);
    }

    #[test]
    fn unknown_commands_point_to_help_when_there_is_one() {
        let e = CommandError::UnknownCommand {
            name: "sub".into(),
            help: Some("/help".into()),
        };
        assert_eq!(
            e.user_message(),
            "Unknown command: sub. Send /help to see the commands."
        );
        assert_eq!(e.command(), None);
        let e = CommandError::UnknownCommand {
            name: "sub".into(),
            help: None,
        };
        assert_eq!(e.to_string(), "Unknown command: sub.");
        let e = CommandError::CheckFailed {
            command: "reset".into(),
        };
        assert_eq!(
            e.user_message(),
            "You are not allowed to use the reset command."
        );
        assert_eq!(e.command(), Some("reset"));
    }
}
