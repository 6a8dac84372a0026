//! The registry of commands and the matching of a text against it.

use std::collections::HashMap;

use ilink_command_names as names;

use super::args::Args;
use super::error::{CommandError, SpecError};
use super::spec::CommandSpec;

/// The prefix used when none is configured.
const DEFAULT_PREFIX: &str = "/";

/// A set of commands with a common prefix.
///
/// # Matching rules
///
/// - Leading whitespace of the text is ignored.
/// - The text must start with the prefix (default `/`); otherwise it is no
///   command (`Ok(None)`) and goes to the fallback handler.
/// - The command word runs from the prefix to the first whitespace. An empty
///   word (`/` alone, `/ hello`) is no command either: people type a lone
///   slash in conversation more often than they mean a command.
/// - A word that names no command is [`CommandError::UnknownCommand`].
/// - Full-width forms count as their ASCII counterparts in the prefix and the
///   command word (`／ｈｅｌｐ` typed with a Chinese input method in
///   full-width mode is `/help`), and any Unicode whitespace, the ideographic
///   space U+3000 included, ends the word. Argument values are never folded:
///   what the user typed after the command word is theirs.
/// - The command word is compared without case against names and aliases.
///
/// These comparisons are [`ilink_command_names`]' functions, which the
/// `#[commands]` macro uses too when it refuses colliding names.
///
/// ```
/// use ilink_framework::command::{CommandSet, CommandSpec};
///
/// let mut set = CommandSet::new();
/// set.add(CommandSpec::new("add").alias("plus")).unwrap();
/// let found = set.find("／PLUS 1 2").unwrap().unwrap();
/// assert_eq!(found.spec.name, "add");
/// assert_eq!(found.args, " 1 2");
/// assert_eq!(set.find("hello"), Ok(None));
/// ```
#[derive(Debug, Clone)]
pub struct CommandSet {
    prefix: String,
    specs: Vec<CommandSpec>,
    /// Folded name or alias → index into `specs`.
    index: HashMap<String, usize>,
}

/// A text that names a registered command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation<'s, 'i> {
    /// The command.
    pub spec: &'s CommandSpec,
    /// The prefix of the set (for usage lines).
    pub prefix: &'s str,
    /// The command word as typed (an alias, mixed case, full-width…).
    pub invoked_as: &'i str,
    /// Everything after the command word, untouched.
    pub args: &'i str,
}

impl<'s, 'i> Invocation<'s, 'i> {
    /// The usage line of the command.
    pub fn usage(&self) -> String {
        self.spec.usage(self.prefix)
    }

    /// Splits the argument text according to the command's arguments.
    pub fn split_args(&self) -> Result<Args<'s, 'i>, CommandError> {
        Args::split(self.spec, self.prefix, self.args)
    }
}

impl Default for CommandSet {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandSet {
    /// An empty set with the prefix `/`.
    pub fn new() -> Self {
        Self::with_prefix(DEFAULT_PREFIX)
    }

    /// An empty set with another prefix, such as `!` or `#`. An empty prefix
    /// makes every text a command attempt, so unknown words become
    /// [`CommandError::UnknownCommand`] rather than no command.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        CommandSet {
            prefix: prefix.into(),
            specs: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Registers a command after [validating](CommandSpec::validate) it; a
    /// name or alias that is already taken (after folding) is refused.
    pub fn add(&mut self, spec: CommandSpec) -> Result<&mut Self, SpecError> {
        spec.validate()?;
        let keys: Vec<String> = spec.names().map(names::name_key).collect();
        for (i, key) in keys.iter().enumerate() {
            if self.index.contains_key(key) || keys[..i].contains(key) {
                return Err(SpecError::DuplicateName { name: key.clone() });
            }
        }
        let position = self.specs.len();
        self.index.extend(keys.into_iter().map(|k| (k, position)));
        self.specs.push(spec);
        Ok(self)
    }

    /// The commands, in registration order.
    pub fn specs(&self) -> &[CommandSpec] {
        &self.specs
    }

    /// The command with this name or alias, compared as in matching; a
    /// leading prefix is allowed (`add`, `/add` and `／ＡＤＤ` all work).
    pub fn get(&self, name: &str) -> Option<&CommandSpec> {
        let name = name.trim();
        let name = names::strip_prefix(name, &self.prefix).unwrap_or(name);
        self.index
            .get(&names::name_key(name))
            .map(|&i| &self.specs[i])
    }

    /// Finds the command a text invokes: `Ok(None)` when the text is no
    /// command (ordinary conversation, for the fallback), an error when it
    /// names no registered command. See [`CommandSet`] for the rules.
    pub fn find<'s, 'i>(
        &'s self,
        text: &'i str,
    ) -> Result<Option<Invocation<'s, 'i>>, CommandError> {
        let Some(after) = names::strip_prefix(text.trim_start(), &self.prefix) else {
            return Ok(None);
        };
        let (word, args) = names::split_word(after);
        if word.is_empty() {
            return Ok(None);
        }
        match self.index.get(&names::name_key(word)) {
            Some(&i) => Ok(Some(Invocation {
                spec: &self.specs[i],
                prefix: &self.prefix,
                invoked_as: word,
                args,
            })),
            None => Err(CommandError::UnknownCommand {
                name: word.into(),
                help: self
                    .get("help")
                    .map(|_| format!("{}help", self.prefix).into()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ArgSpec;
    use proptest::prelude::*;

    fn set() -> CommandSet {
        let mut set = CommandSet::new();
        set.add(
            CommandSpec::new("add")
                .alias("plus")
                .arg(ArgSpec::required("a", "i64"))
                .arg(ArgSpec::required("b", "i64")),
        )
        .unwrap();
        set.add(CommandSpec::new("echo").arg(ArgSpec::rest("text", "String")))
            .unwrap();
        set.add(CommandSpec::new("ping")).unwrap();
        set
    }

    fn name_of(set: &CommandSet, text: &str) -> Option<String> {
        set.find(text).ok().flatten().map(|i| i.spec.name.clone())
    }

    fn unknown(name: &str) -> CommandError {
        CommandError::UnknownCommand {
            name: name.into(),
            help: None,
        }
    }

    #[test]
    fn plain_text_is_not_a_command() {
        let set = set();
        for text in [
            "hello",
            "",
            "  ",
            "add 1 2",
            "/",
            "/ add",
            "／\u{3000}add",
            "1/2",
        ] {
            assert_eq!(set.find(text), Ok(None), "{text:?}");
        }
    }

    #[test]
    fn unknown_commands_are_reported_as_typed() {
        let set = set();
        assert_eq!(set.find("/Sub 1 2"), Err(unknown("Sub")));
        assert_eq!(set.find("//x"), Err(unknown("/x")));
    }

    #[test]
    fn unknown_commands_point_to_help_when_it_is_registered() {
        let mut set = set();
        set.add(crate::command::help::help_spec()).unwrap();
        assert_eq!(
            set.find("/sub"),
            Err(CommandError::UnknownCommand {
                name: "sub".into(),
                help: Some("/help".into())
            })
        );
    }

    #[test]
    fn names_aliases_and_case() {
        let set = set();
        for text in [
            "/add 1 2",
            "/ADD 1 2",
            "/Plus 1 2",
            "  /add",
            "/add\n1",
            "/ping",
        ] {
            assert!(matches!(set.find(text), Ok(Some(_))), "{text:?}");
        }
        let found = set.find("/PLUS  1 2").unwrap().unwrap();
        assert_eq!(found.spec.name, "add");
        assert_eq!(found.invoked_as, "PLUS");
        assert_eq!(found.args, "  1 2");
        assert_eq!(found.usage(), "/add <a> <b>");
    }

    #[test]
    fn full_width_prefix_word_and_space() {
        let set = set();
        assert_eq!(name_of(&set, "／add 1 2").unwrap(), "add");
        assert_eq!(name_of(&set, "／ＡＤＤ\u{3000}1\u{3000}2").unwrap(), "add");
        assert_eq!(name_of(&set, "\u{3000}/ping").unwrap(), "ping");
        let found = set.find("／echo\u{3000}ｆｕｌｌ　width").unwrap().unwrap();
        // Argument values keep their full-width characters.
        let args = found.split_args().unwrap();
        assert_eq!(args.raw(0), Some("ｆｕｌｌ　width"));
    }

    #[test]
    fn every_whitespace_character_ends_the_command_word() {
        let set = set();
        let whitespace = (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace());
        for c in whitespace {
            let text = format!("/ping{c}x");
            let found = set.find(&text);
            assert_eq!(
                found.map(|f| f.map(|f| (f.spec.name.as_str(), f.args))),
                Ok(Some(("ping", &text["/ping".len()..]))),
                "U+{:04X}",
                c as u32
            );
            assert_eq!(
                set.find(&format!("/{c}ping")),
                Ok(None),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn other_prefixes() {
        let mut set = CommandSet::with_prefix("!");
        set.add(CommandSpec::new("ping")).unwrap();
        assert!(matches!(set.find("!ping"), Ok(Some(_))));
        assert!(matches!(set.find("！ping"), Ok(Some(_))));
        assert_eq!(set.find("/ping"), Ok(None));

        let mut set = CommandSet::with_prefix("bot,");
        set.add(CommandSpec::new("ping")).unwrap();
        assert_eq!(
            set.find("BOT，ping"),
            Ok(None),
            "the prefix is not case-folded"
        );
        assert!(matches!(set.find("bot，ping"), Ok(Some(_))));

        let mut set = CommandSet::with_prefix("");
        set.add(CommandSpec::new("ping")).unwrap();
        assert!(matches!(set.find("Ping"), Ok(Some(_))));
        assert!(matches!(
            set.find("hi"),
            Err(CommandError::UnknownCommand { .. })
        ));
    }

    #[test]
    fn get_accepts_names_aliases_and_prefixes() {
        let set = set();
        for name in ["add", "PLUS", "/add", "／ａｄｄ", " add "] {
            assert_eq!(
                set.get(name).map(|s| s.name.as_str()),
                Some("add"),
                "{name}"
            );
        }
        assert!(set.get("sub").is_none());
        assert!(set.get("").is_none());
    }

    #[test]
    fn duplicates_are_refused() {
        let mut set = set();
        assert!(matches!(
            set.add(CommandSpec::new("PLUS")),
            Err(SpecError::DuplicateName { .. })
        ));
        assert!(set.add(CommandSpec::new("x").alias("X")).is_err());
        assert!(set.add(CommandSpec::new("ｐｉｎｇ")).is_err());
        assert!(set.add(CommandSpec::new("bad name")).is_err());
        assert_eq!(set.specs().len(), 3);
    }

    proptest! {
        #[test]
        fn find_never_panics(text in r#"[ /／a-zA-Zａ"\u{3000}é👍\n]{0,20}"#) {
            let set = set();
            if let Ok(Some(found)) = set.find(&text) {
                let _ = found.split_args();
            }
        }
    }
}
