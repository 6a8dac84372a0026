//! Turning the argument text of an invocation into typed values.
//!
//! Parsing happens in two steps. [`Args::split`] assigns the raw text to the
//! arguments of a [`CommandSpec`] (one token each, the rest of the line for a
//! rest argument) and reports missing, surplus and badly quoted arguments.
//! Then the generated glue converts each value with [`Args::get`] /
//! [`Args::get_opt`] (through [`ParseArg`]) or with a function of its own
//! ([`Args::get_with`]), and a conversion failure names the argument, the
//! text and the expected type.
//!
//! ```
//! use ilink_framework::command::{ArgSpec, Args, CommandSpec};
//!
//! let spec = CommandSpec::new("add")
//!     .arg(ArgSpec::required("a", "i64"))
//!     .arg(ArgSpec::optional("b", "i64"));
//! let args = Args::split(&spec, "/", "40 2").unwrap();
//! let a: i64 = args.get(0).unwrap();
//! let b: Option<i64> = args.get_opt(1).unwrap();
//! assert_eq!(a + b.unwrap_or(0), 42);
//! ```

use std::borrow::Cow;
use std::fmt::Display;
use std::str::FromStr;

use super::error::CommandError;
use super::lex::Lexer;
use super::spec::CommandSpec;

/// Conversion of one argument's text into a value.
///
/// Every type whose [`FromStr`] error implements [`Display`] has it already
/// (integers, floats, `bool`, `char`, `String`, `IpAddr`, …). Implement it
/// for a type of your own to control how it is parsed; for a type you do not
/// own, pass a function to [`Args::get_with`] instead.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a command argument: it implements neither `FromStr` nor `ParseArg`",
    label = "not parsable from the command text",
    note = "implement `FromStr` (its error must implement `Display`) or `ParseArg` for `{Self}`, \
            or parse it with `#[arg(parse_with = my_fn)]`"
)]
pub trait ParseArg: Sized {
    /// Parses the argument text (quotes already removed), or explains in a
    /// few words why it cannot.
    fn parse_arg(input: &str) -> Result<Self, String>;
}

impl<T> ParseArg for T
where
    T: FromStr,
    T::Err: Display,
{
    fn parse_arg(input: &str) -> Result<Self, String> {
        input.parse().map_err(|e: T::Err| e.to_string())
    }
}

/// The raw values of one invocation's arguments, one per [`ArgSpec`]
/// of the command, in order.
///
/// [`ArgSpec`]: super::ArgSpec
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args<'s, 'i> {
    spec: &'s CommandSpec,
    usage: String,
    values: Vec<Option<Cow<'i, str>>>,
}

impl<'s, 'i> Args<'s, 'i> {
    /// Assigns `input` (the text after the command word) to the arguments
    /// of `spec`; `prefix` is only used for the usage line in errors.
    ///
    /// A required argument that is missing, a token left over after the
    /// last argument, and an unclosed quote are errors here. Text taken by a
    /// rest argument is not tokenized, so quotes in it are no error.
    pub fn split(
        spec: &'s CommandSpec,
        prefix: &str,
        input: &'i str,
    ) -> Result<Self, CommandError> {
        let usage = spec.usage(prefix);
        let mut lexer = Lexer::new(input);
        let mut values = Vec::with_capacity(spec.args.len());
        let unterminated = |e: super::lex::LexError, usage: &str| CommandError::UnterminatedQuote {
            command: spec.name.as_str().into(),
            quote: e.quote,
            position: input[..e.offset].trim_start().chars().count(),
            usage: usage.into(),
        };
        for arg in &spec.args {
            let value = if arg.kind.is_rest() {
                Some(lexer.rest())
                    .filter(|r| !r.is_empty())
                    .map(Cow::Borrowed)
            } else {
                match lexer.next() {
                    Some(Ok(token)) => Some(token.value),
                    Some(Err(e)) => return Err(unterminated(e, &usage)),
                    None => None,
                }
            };
            if value.is_none() && !arg.kind.is_optional() {
                return Err(CommandError::MissingArgument {
                    command: spec.name.as_str().into(),
                    arg: arg.name.as_str().into(),
                    usage: usage.into(),
                });
            }
            values.push(value);
        }
        match lexer.next() {
            None => Ok(Args {
                spec,
                usage,
                values,
            }),
            Some(Ok(token)) => Err(CommandError::TooManyArguments {
                command: spec.name.as_str().into(),
                extra: token.value.into(),
                usage: usage.into(),
            }),
            Some(Err(e)) => Err(unterminated(e, &usage)),
        }
    }

    /// The command these arguments belong to.
    pub fn spec(&self) -> &'s CommandSpec {
        self.spec
    }

    /// The usage line of the command.
    pub fn usage(&self) -> &str {
        &self.usage
    }

    /// The raw text of argument `index`, if it was given.
    pub fn raw(&self, index: usize) -> Option<&str> {
        self.values.get(index)?.as_deref()
    }

    /// Argument `index` converted with [`ParseArg`]; for required and rest
    /// arguments.
    pub fn get<T: ParseArg>(&self, index: usize) -> Result<T, CommandError> {
        self.get_with(index, T::parse_arg)
    }

    /// Argument `index` converted with [`ParseArg`], or `None` if it was
    /// not given; for optional arguments.
    pub fn get_opt<T: ParseArg>(&self, index: usize) -> Result<Option<T>, CommandError> {
        self.get_opt_with(index, T::parse_arg)
    }

    /// Argument `index` converted with `parse`, a custom parser.
    pub fn get_with<T, E: Display>(
        &self,
        index: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, CommandError> {
        self.get_opt_with(index, parse)?
            .ok_or_else(|| CommandError::MissingArgument {
                command: self.spec.name.as_str().into(),
                arg: self.arg_name(index),
                usage: self.usage.as_str().into(),
            })
    }

    /// Argument `index` converted with `parse`, or `None` if it was not
    /// given.
    pub fn get_opt_with<T, E: Display>(
        &self,
        index: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, CommandError> {
        let Some(input) = self.raw(index) else {
            return Ok(None);
        };
        parse(input)
            .map(Some)
            .map_err(|reason| CommandError::BadArgument {
                command: self.spec.name.as_str().into(),
                arg: self.arg_name(index),
                value: input.into(),
                expected: self
                    .spec
                    .args
                    .get(index)
                    .map_or("", |a| a.type_name.as_str())
                    .into(),
                reason: reason.to_string().into(),
                usage: self.usage.as_str().into(),
            })
    }

    fn arg_name(&self, index: usize) -> Box<str> {
        self.spec
            .args
            .get(index)
            .map_or_else(|| format!("#{index}").into(), |a| a.name.as_str().into())
    }
}

/// Whether every required argument has a value: the invariant
/// [`Args::split`] establishes, spelled out for the tests.
#[cfg(test)]
fn complete(args: &Args<'_, '_>) -> bool {
    args.spec
        .args
        .iter()
        .zip(&args.values)
        .all(|(a, v)| v.is_some() || a.kind.is_optional())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ArgSpec;
    use proptest::prelude::*;

    fn add() -> CommandSpec {
        CommandSpec::new("add")
            .arg(ArgSpec::required("a", "i64"))
            .arg(ArgSpec::required("b", "i64"))
    }

    fn say() -> CommandSpec {
        CommandSpec::new("say")
            .arg(ArgSpec::required("to", "String"))
            .arg(ArgSpec::rest("text", "String"))
    }

    #[test]
    fn required_arguments() {
        let spec = add();
        let args = Args::split(&spec, "/", "1 -2").unwrap();
        assert_eq!(
            args.get::<i64>(0).unwrap() + args.get::<i64>(1).unwrap(),
            -1
        );
        assert!(complete(&args));
    }

    #[test]
    fn missing_argument() {
        let spec = add();
        let err = Args::split(&spec, "/", "1").unwrap_err();
        assert_eq!(
            err,
            CommandError::MissingArgument {
                command: "add".into(),
                arg: "b".into(),
                usage: "/add <a> <b>".into()
            }
        );
    }

    #[test]
    fn too_many_arguments() {
        let spec = add();
        let err = Args::split(&spec, "/", "1 2 \"3 4\"").unwrap_err();
        assert!(
            matches!(err, CommandError::TooManyArguments { ref extra, .. } if &**extra == "3 4")
        );
        assert_eq!(err.usage(), Some("/add <a> <b>"));
    }

    #[test]
    fn bad_values_name_argument_and_type() {
        let spec = add();
        let args = Args::split(&spec, "/", "1 x").unwrap();
        let err = args.get::<i64>(1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid <b>: `x` is not a valid i64 (invalid digit found in string)"
        );
        assert_eq!(err.usage(), Some("/add <a> <b>"));
    }

    #[test]
    fn unterminated_quote_position_counts_chars() {
        // In a rest argument, an odd quote is just text.
        let spec = say();
        let args = Args::split(&spec, "/", "中文 'x").unwrap();
        assert_eq!(args.raw(1), Some("'x"));
        let err = Args::split(&add(), "/", "中文 'x").unwrap_err();
        assert!(matches!(
            err,
            CommandError::UnterminatedQuote {
                quote: '\'',
                position: 3,
                ..
            }
        ));
        let err = Args::split(&add(), "/", " \u{3000}1 2 'x").unwrap_err();
        assert_eq!(
            err.user_message(),
            "unterminated quote: the ' is never closed\nUsage: /add <a> <b>"
        );
        assert!(matches!(
            err,
            CommandError::UnterminatedQuote { position: 4, .. }
        ));
    }

    #[test]
    fn rest_takes_the_line_verbatim() {
        let spec = say();
        let args = Args::split(&spec, "/", "“Ann Lee”   hello,  \"world\n 'x").unwrap();
        assert_eq!(args.raw(0), Some("Ann Lee"));
        assert_eq!(args.get::<String>(1).unwrap(), "hello,  \"world\n 'x");
        let err = Args::split(&spec, "/", "ann   ").unwrap_err();
        assert!(matches!(err, CommandError::MissingArgument { ref arg, .. } if &**arg == "text"));
    }

    #[test]
    fn optional_arguments() {
        let spec = CommandSpec::new("greet")
            .arg(ArgSpec::optional("name", "String"))
            .arg(ArgSpec::optional("times", "u8"));
        let args = Args::split(&spec, "/", "").unwrap();
        assert_eq!(args.get_opt::<String>(0).unwrap(), None);
        let args = Args::split(&spec, "/", "bob").unwrap();
        assert_eq!(args.get_opt::<String>(0).unwrap().as_deref(), Some("bob"));
        assert_eq!(args.get_opt::<u8>(1).unwrap(), None);
        let args = Args::split(&spec, "/", "bob 300").unwrap();
        assert!(matches!(
            args.get_opt::<u8>(1),
            Err(CommandError::BadArgument { .. })
        ));
        assert!(Args::split(&spec, "/", "a 1 b").is_err());
    }

    #[test]
    fn optional_rest() {
        let spec = CommandSpec::new("note").arg(ArgSpec::optional_rest("body", "String"));
        let args = Args::split(&spec, "/", " \u{3000} ").unwrap();
        assert_eq!(args.get_opt::<String>(0).unwrap(), None);
        let args = Args::split(&spec, "/", "\u{3000}a  b").unwrap();
        assert_eq!(args.get_opt::<String>(0).unwrap().as_deref(), Some("a  b"));
    }

    #[test]
    fn no_arguments() {
        let spec = CommandSpec::new("ping");
        assert!(Args::split(&spec, "/", "  ").is_ok());
        assert!(matches!(
            Args::split(&spec, "/", "x"),
            Err(CommandError::TooManyArguments { .. })
        ));
    }

    #[test]
    fn custom_parsers() {
        fn yes_no(s: &str) -> Result<bool, &'static str> {
            match s {
                "yes" | "是" => Ok(true),
                "no" | "否" => Ok(false),
                _ => Err("say yes or no"),
            }
        }
        let spec = CommandSpec::new("vote").arg(ArgSpec::required("choice", "yes/no"));
        let args = Args::split(&spec, "/", "是").unwrap();
        assert!(args.get_with(0, yes_no).unwrap());
        let args = Args::split(&spec, "/", "maybe").unwrap();
        let err = args.get_with(0, yes_no).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid <choice>: `maybe` is not a valid yes/no (say yes or no)"
        );
    }

    #[derive(Debug, PartialEq)]
    struct Color(u8, u8, u8);

    impl ParseArg for Color {
        fn parse_arg(input: &str) -> Result<Self, String> {
            let hex = input.strip_prefix('#').ok_or("start with #")?;
            let n = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            Ok(Color((n >> 16) as u8, (n >> 8) as u8, n as u8))
        }
    }

    #[test]
    fn own_types_implement_parse_arg() {
        let spec = CommandSpec::new("paint").arg(ArgSpec::required("color", "Color"));
        let args = Args::split(&spec, "/", "#ff8000").unwrap();
        assert_eq!(args.get::<Color>(0).unwrap(), Color(255, 128, 0));
    }

    #[test]
    fn unicode_values() {
        let spec = CommandSpec::new("x")
            .arg(ArgSpec::required("a", "String"))
            .arg(ArgSpec::required("b", "char"));
        let args = Args::split(&spec, "/", "👨‍👩‍👧\u{3000}中").unwrap();
        assert_eq!(args.get::<String>(0).unwrap(), "👨‍👩‍👧");
        assert_eq!(args.get::<char>(1).unwrap(), '中');
    }

    #[test]
    fn out_of_range_index_is_an_error_not_a_panic() {
        let spec = add();
        let args = Args::split(&spec, "/", "1 2").unwrap();
        assert!(matches!(
            args.get::<i64>(9),
            Err(CommandError::MissingArgument { .. })
        ));
        assert_eq!(args.get_opt::<i64>(9).unwrap(), None);
    }

    proptest! {
        #[test]
        fn split_never_panics(input in r#"[ a1"'“”\\\u{3000}é👍\n-]{0,30}"#) {
            for spec in [add(), say(), CommandSpec::new("ping")] {
                if let Ok(args) = Args::split(&spec, "/", &input) {
                    prop_assert!(complete(&args));
                    for i in 0..spec.args.len() {
                        let _ = args.get::<i64>(i);
                    }
                }
            }
        }
    }
}
