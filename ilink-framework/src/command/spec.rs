//! The plain-data description of a command and its arguments.
//!
//! The `#[commands]` macro turns each annotated method into a
//! [`CommandSpec`] built with the methods below; everything else (matching,
//! argument parsing, help, cooldowns) reads only this description, so it can
//! be tested without the macro.
//!
//! ```
//! use ilink_framework::command::{ArgSpec, CommandSpec};
//!
//! let add = CommandSpec::new("add")
//!     .alias("plus")
//!     .docs("Add two integers.\n\nBoth must fit in an i64.")
//!     .arg(ArgSpec::required("a", "i64"))
//!     .arg(ArgSpec::required("b", "i64"));
//! assert_eq!(add.usage("/"), "/add <a> <b>");
//! assert_eq!(add.description.as_deref(), Some("Add two integers."));
//! assert_eq!(add.details.as_deref(), Some("Both must fit in an i64."));
//! ```

use std::time::Duration;

use super::error::SpecError;

/// How an argument takes its value from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// One token that must be present. Usage: `<name>`.
    Required,
    /// One token that may be absent (an `Option<T>` parameter); optional
    /// arguments come after all required ones. Usage: `[name]`.
    Optional,
    /// The rest of the line, verbatim, which must not be empty (a trailing
    /// `String` parameter). Usage: `<name...>`.
    Rest,
    /// The rest of the line, verbatim, or nothing (a trailing
    /// `Option<String>` parameter). Usage: `[name...]`.
    OptionalRest,
}

impl ArgKind {
    /// Whether the argument may be left out.
    pub fn is_optional(self) -> bool {
        matches!(self, ArgKind::Optional | ArgKind::OptionalRest)
    }

    /// Whether the argument takes the rest of the line.
    pub fn is_rest(self) -> bool {
        matches!(self, ArgKind::Rest | ArgKind::OptionalRest)
    }
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArgSpec {
    /// The parameter name, shown in usage lines and errors.
    pub name: String,
    /// The type as written in the source (`i64`, `String`), shown in errors.
    pub type_name: String,
    /// How the argument takes its value.
    pub kind: ArgKind,
}

impl ArgSpec {
    /// An argument of any kind.
    pub fn new(name: impl Into<String>, type_name: impl Into<String>, kind: ArgKind) -> Self {
        ArgSpec {
            name: name.into(),
            type_name: type_name.into(),
            kind,
        }
    }

    /// A [`ArgKind::Required`] argument.
    pub fn required(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        Self::new(name, type_name, ArgKind::Required)
    }

    /// An [`ArgKind::Optional`] argument.
    pub fn optional(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        Self::new(name, type_name, ArgKind::Optional)
    }

    /// A [`ArgKind::Rest`] argument.
    pub fn rest(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        Self::new(name, type_name, ArgKind::Rest)
    }

    /// An [`ArgKind::OptionalRest`] argument.
    pub fn optional_rest(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        Self::new(name, type_name, ArgKind::OptionalRest)
    }

    /// The argument as shown in a usage line: `<a>`, `[a]`, `<a...>`, `[a...]`.
    pub fn usage(&self) -> String {
        let name = &self.name;
        match self.kind {
            ArgKind::Required => format!("<{name}>"),
            ArgKind::Optional => format!("[{name}]"),
            ArgKind::Rest => format!("<{name}...>"),
            ArgKind::OptionalRest => format!("[{name}...]"),
        }
    }
}

/// Everything the runtime knows about one command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandSpec {
    /// The canonical name, without prefix (`add` for `/add`).
    pub name: String,
    /// Other names that invoke the command.
    pub aliases: Vec<String>,
    /// One line for the command list: the first paragraph of the doc comment.
    pub description: Option<String>,
    /// The rest of the doc comment, shown by `/help <command>`.
    pub details: Option<String>,
    /// The arguments, in order.
    pub args: Vec<ArgSpec>,
    /// Left out of the `/help` list (still callable and still described by
    /// `/help <command>`, since whoever asks already knows the name).
    pub hidden: bool,
    /// How long one user must wait between two uses of the command.
    pub cooldown: Option<Duration>,
}

impl CommandSpec {
    /// A command with this name, no arguments and no documentation.
    pub fn new(name: impl Into<String>) -> Self {
        CommandSpec {
            name: name.into(),
            aliases: Vec::new(),
            description: None,
            details: None,
            args: Vec::new(),
            hidden: false,
            cooldown: None,
        }
    }

    /// Adds an alias.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// Sets the one-line description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the longer explanation shown by `/help <command>`.
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Sets description and details from a doc comment: the first
    /// paragraph, its lines joined with spaces (rustdoc comments wrap long
    /// sentences), is the description; the paragraphs after it are the
    /// details. Lines lose the single leading space doc comments carry.
    pub fn docs(mut self, doc: &str) -> Self {
        let mut lines = doc
            .lines()
            .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
            .skip_while(|l| l.trim().is_empty())
            .peekable();
        let mut summary = Vec::new();
        while let Some(line) = lines.next_if(|l| !l.trim().is_empty()) {
            summary.push(line.trim());
        }
        self.description = (!summary.is_empty()).then(|| summary.join(" "));
        let details = lines.collect::<Vec<_>>().join("\n");
        let details = details.trim_matches('\n');
        self.details = (!details.trim().is_empty()).then(|| details.to_owned());
        self
    }

    /// Adds an argument after the existing ones.
    pub fn arg(mut self, arg: ArgSpec) -> Self {
        self.args.push(arg);
        self
    }

    /// Hides the command from the `/help` list.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// Sets the per-user cooldown.
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = Some(cooldown);
        self
    }

    /// The name and the aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The usage line with the given prefix, e.g. `/add <a> <b>`.
    pub fn usage(&self, prefix: &str) -> String {
        let mut usage = format!("{prefix}{}", self.name);
        for arg in &self.args {
            usage.push(' ');
            usage.push_str(&arg.usage());
        }
        usage
    }

    /// Checks that the spec can be parsed unambiguously: names are non-empty
    /// and without whitespace, argument names are unique, optional arguments
    /// follow the required ones, a rest argument comes last, and a required
    /// rest does not follow an optional argument (the optional one would
    /// swallow the rest's first word).
    pub fn validate(&self) -> Result<(), SpecError> {
        for name in self.names() {
            if !ilink_command_names::is_valid_name(name) {
                return Err(SpecError::InvalidName {
                    name: name.to_owned(),
                });
            }
        }
        let invalid = |arg: &ArgSpec, reason: &str| SpecError::InvalidArgs {
            command: self.name.clone(),
            arg: arg.name.clone(),
            reason: reason.to_owned(),
        };
        let mut seen_optional = false;
        for (i, arg) in self.args.iter().enumerate() {
            if self.args[..i].iter().any(|a| a.name == arg.name) {
                return Err(invalid(arg, "the name is used twice"));
            }
            if arg.kind.is_rest() && i + 1 != self.args.len() {
                return Err(invalid(arg, "a rest argument must be the last one"));
            }
            match arg.kind {
                ArgKind::Required if seen_optional => {
                    return Err(invalid(arg, "a required argument follows an optional one"));
                }
                ArgKind::Rest if seen_optional => {
                    return Err(invalid(arg, "a required rest follows an optional argument"));
                }
                ArgKind::Optional => seen_optional = true,
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lines() {
        let echo = CommandSpec::new("echo").arg(ArgSpec::rest("text", "String"));
        assert_eq!(echo.usage("/"), "/echo <text...>");
        let greet = CommandSpec::new("greet").arg(ArgSpec::optional("name", "String"));
        assert_eq!(greet.usage("!"), "!greet [name]");
        let note = CommandSpec::new("note")
            .arg(ArgSpec::required("title", "String"))
            .arg(ArgSpec::optional_rest("body", "String"));
        assert_eq!(note.usage("/"), "/note <title> [body...]");
        assert_eq!(CommandSpec::new("ping").usage("/"), "/ping");
    }

    #[test]
    fn docs_split_into_description_and_details() {
        let spec = CommandSpec::new("x").docs(" Say hi.\n\n Longer text\n   indented.\n");
        assert_eq!(spec.description.as_deref(), Some("Say hi."));
        assert_eq!(spec.details.as_deref(), Some("Longer text\n  indented."));
        let spec = CommandSpec::new("x").docs("\n Only one line.");
        assert_eq!(spec.description.as_deref(), Some("Only one line."));
        assert_eq!(spec.details, None);
        let spec = CommandSpec::new("x").docs("");
        assert_eq!((spec.description, spec.details), (None, None));
        let spec = CommandSpec::new("x").docs(" A summary that\n wraps.\n\n More.\n\n Even more.");
        assert_eq!(spec.description.as_deref(), Some("A summary that wraps."));
        assert_eq!(spec.details.as_deref(), Some("More.\n\nEven more."));
    }

    #[test]
    fn valid_specs_pass() {
        let spec = CommandSpec::new("a")
            .arg(ArgSpec::required("x", "i64"))
            .arg(ArgSpec::optional("y", "i64"))
            .arg(ArgSpec::optional_rest("z", "String"));
        assert_eq!(spec.validate(), Ok(()));
        let spec = CommandSpec::new("a")
            .arg(ArgSpec::required("x", "i64"))
            .arg(ArgSpec::rest("z", "String"));
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn invalid_specs_are_rejected() {
        let bad = [
            CommandSpec::new(""),
            CommandSpec::new("two words"),
            CommandSpec::new("a").alias("b c"),
            CommandSpec::new("a")
                .arg(ArgSpec::optional("x", "i64"))
                .arg(ArgSpec::required("y", "i64")),
            CommandSpec::new("a")
                .arg(ArgSpec::rest("x", "String"))
                .arg(ArgSpec::required("y", "i64")),
            CommandSpec::new("a")
                .arg(ArgSpec::optional("x", "i64"))
                .arg(ArgSpec::rest("y", "String")),
            CommandSpec::new("a")
                .arg(ArgSpec::required("x", "i64"))
                .arg(ArgSpec::required("x", "i64")),
        ];
        for spec in bad {
            assert!(spec.validate().is_err(), "{spec:?} should be invalid");
        }
    }
}
