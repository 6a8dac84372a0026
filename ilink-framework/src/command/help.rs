//! The `/help` command, generated from the specs.
//!
//! `/help` lists the visible commands sorted by name, one
//! `usage — description` line each; `/help <command>` shows one command's
//! usage, description, details and aliases. The topic is looked up like a
//! command word (case-insensitive, aliases, full-width forms, with or
//! without the prefix), and hidden commands are described when asked for by
//! name: whoever asks already knows them.
//!
//! ```
//! use ilink_framework::command::{ArgSpec, CommandSet, CommandSpec};
//!
//! let mut set = CommandSet::new();
//! set.add(CommandSpec::new("ping").description("Check that the bot is alive.")).unwrap();
//! assert_eq!(
//!     set.help_reply(None),
//!     "Commands:\n/ping — Check that the bot is alive.\n\nSend /help <command> for details."
//! );
//! ```

use super::set::CommandSet;
use super::spec::{ArgSpec, CommandSpec};

/// The spec of the help command itself, for registering it with the others
/// so that it shows in the list and `/help help` works.
pub(crate) fn help_spec() -> CommandSpec {
    CommandSpec::new("help")
        .description("List the commands, or explain one.")
        .arg(ArgSpec::optional("command", "command"))
}

impl CommandSet {
    /// The list of visible commands.
    pub fn help_text(&self) -> String {
        let mut visible: Vec<&CommandSpec> = self.specs().iter().filter(|s| !s.hidden).collect();
        if visible.is_empty() {
            return "No commands.".to_owned();
        }
        visible.sort_by_key(|s| s.name.to_lowercase());
        let mut text = String::from("Commands:");
        for spec in visible {
            text.push('\n');
            text.push_str(&spec.usage(self.prefix()));
            if let Some(description) = &spec.description {
                text.push_str(" — ");
                text.push_str(description);
            }
        }
        text.push_str(&format!(
            "\n\nSend {}help <command> for details.",
            self.prefix()
        ));
        text
    }

    /// The help of one command, found by name or alias; `None` if there is
    /// no such command.
    pub fn command_help(&self, name: &str) -> Option<String> {
        let spec = self.get(name)?;
        let mut text = spec.usage(self.prefix());
        for part in [&spec.description, &spec.details].into_iter().flatten() {
            text.push_str("\n\n");
            text.push_str(part);
        }
        if !spec.aliases.is_empty() {
            let aliases: Vec<String> = spec
                .aliases
                .iter()
                .map(|a| format!("{}{a}", self.prefix()))
                .collect();
            text.push_str("\n\nAliases: ");
            text.push_str(&aliases.join(", "));
        }
        Some(text)
    }

    /// The reply to `/help [topic]`: the list without a topic, the command's
    /// help with one, and a clear message for an unknown topic.
    pub fn help_reply(&self, topic: Option<&str>) -> String {
        match topic.map(str::trim).filter(|t| !t.is_empty()) {
            None => self.help_text(),
            Some(topic) => self.command_help(topic).unwrap_or_else(|| {
                format!(
                    "There is no command `{topic}`. Send {}help to see all commands.",
                    self.prefix()
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> CommandSet {
        let mut set = CommandSet::new();
        set.add(
            CommandSpec::new("echo")
                .docs("Repeat a text.\n\nQuotes and spacing are kept as typed.")
                .arg(ArgSpec::rest("text", "String")),
        )
        .unwrap();
        set.add(
            CommandSpec::new("add")
                .alias("plus")
                .alias("sum")
                .description("Add two integers.")
                .arg(ArgSpec::required("a", "i64"))
                .arg(ArgSpec::required("b", "i64")),
        )
        .unwrap();
        set.add(CommandSpec::new("Greet").arg(ArgSpec::optional("name", "String")))
            .unwrap();
        set.add(
            CommandSpec::new("debug")
                .description("Internals.")
                .hidden(true),
        )
        .unwrap();
        set.add(help_spec()).unwrap();
        set
    }

    #[test]
    fn list_is_sorted_and_skips_hidden_commands() {
        assert_eq!(
            set().help_reply(None),
            "Commands:\n\
             /add <a> <b> — Add two integers.\n\
             /echo <text...> — Repeat a text.\n\
             /Greet [name]\n\
             /help [command] — List the commands, or explain one.\n\
             \n\
             Send /help <command> for details."
        );
    }

    #[test]
    fn list_uses_the_prefix() {
        let mut set = CommandSet::with_prefix("!");
        set.add(CommandSpec::new("ping")).unwrap();
        assert_eq!(
            set.help_text(),
            "Commands:\n!ping\n\nSend !help <command> for details."
        );
        assert_eq!(CommandSet::new().help_text(), "No commands.");
    }

    #[test]
    fn one_command_with_details_and_aliases() {
        let set = set();
        assert_eq!(
            set.help_reply(Some("echo")).as_str(),
            "/echo <text...>\n\nRepeat a text.\n\nQuotes and spacing are kept as typed."
        );
        let add = "/add <a> <b>\n\nAdd two integers.\n\nAliases: /plus, /sum";
        for topic in ["add", "PLUS", "/sum", "／ＡＤＤ", " add "] {
            assert_eq!(set.help_reply(Some(topic)), add, "{topic}");
        }
    }

    #[test]
    fn hidden_commands_are_described_when_asked() {
        assert_eq!(set().help_reply(Some("debug")), "/debug\n\nInternals.");
    }

    #[test]
    fn unknown_topic() {
        assert_eq!(
            set().help_reply(Some("nope")),
            "There is no command `nope`. Send /help to see all commands."
        );
        assert_eq!(set().help_reply(Some("  ")), set().help_text());
    }

    #[test]
    fn help_through_find_and_args() {
        let set = set();
        let found = set.find("／HELP\u{3000}plus").unwrap().unwrap();
        let args = found.split_args().unwrap();
        assert_eq!(
            set.help_reply(args.raw(0)),
            "/add <a> <b>\n\nAdd two integers.\n\nAliases: /plus, /sum"
        );
    }
}
