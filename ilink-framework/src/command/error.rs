//! Errors of command matching and argument parsing.
//!
//! Every failure a user can cause by typing a command is one variant of
//! [`CommandError`], with a message meant for that user and, where it helps,
//! the usage line, so the framework can answer with
//! [`CommandError::user_message`] by default and an application can match on
//! the variant to say something else.

use std::time::Duration;

/// Why a text did not resolve to a registered command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The text does not start with the prefix (or has nothing after it):
    /// ordinary conversation, for the fallback handler.
    #[error("not a command")]
    NotACommand,
    /// The text starts with the prefix, but no command has that name.
    #[error("unknown command `{name}`")]
    UnknownCommand {
        /// The command word as typed, without the prefix.
        name: String,
    },
}

/// A command invocation that cannot run.
///
/// The texts are `Box<str>` rather than `String` to keep the error small:
/// it travels in the `Err` of every parsing step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No command has this name.
    #[error("unknown command `{name}`")]
    UnknownCommand {
        /// The command word as typed, without the prefix.
        name: Box<str>,
    },
    /// An argument was given but could not be converted to its type.
    #[error("invalid <{arg}>: `{input}` is not a valid {expected_type} ({reason})")]
    ArgError {
        /// The canonical command name.
        command: Box<str>,
        /// The argument name.
        arg: Box<str>,
        /// The argument text as typed (quotes removed).
        input: Box<str>,
        /// The argument's type as written in the source.
        expected_type: Box<str>,
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
    /// The user used the command too recently.
    #[error("please wait {}s before using this command again", ceil_secs(.remaining))]
    Cooldown {
        /// The canonical command name.
        command: Box<str>,
        /// How long until the command may be used again.
        remaining: Duration,
    },
    /// A check of the application refused the invocation.
    #[error("{reason}")]
    CheckFailed {
        /// The canonical command name.
        command: Box<str>,
        /// What to tell the user.
        reason: Box<str>,
    },
}

impl CommandError {
    /// The canonical name of the command, when one was found.
    pub fn command(&self) -> Option<&str> {
        match self {
            CommandError::UnknownCommand { .. } => None,
            CommandError::ArgError { command, .. }
            | CommandError::MissingArgument { command, .. }
            | CommandError::TooManyArguments { command, .. }
            | CommandError::UnterminatedQuote { command, .. }
            | CommandError::Cooldown { command, .. }
            | CommandError::CheckFailed { command, .. } => Some(command),
        }
    }

    /// The usage line, for the errors about arguments.
    pub fn usage(&self) -> Option<&str> {
        match self {
            CommandError::ArgError { usage, .. }
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

impl From<MatchError> for Option<CommandError> {
    /// `NotACommand` is no error of a command, so it maps to `None`.
    fn from(error: MatchError) -> Self {
        match error {
            MatchError::NotACommand => None,
            MatchError::UnknownCommand { name } => {
                Some(CommandError::UnknownCommand { name: name.into() })
            }
        }
    }
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
            "please wait 1s before using this command again"
        );
        assert_eq!(e.usage(), None);
    }

    #[test]
    fn not_a_command_is_no_command_error() {
        assert_eq!(Option::<CommandError>::from(MatchError::NotACommand), None);
        assert_eq!(
            Option::<CommandError>::from(MatchError::UnknownCommand { name: "x".into() }),
            Some(CommandError::UnknownCommand { name: "x".into() })
        );
    }
}
