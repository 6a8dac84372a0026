//! How the examples log: to stderr (stdout is the transcript), filtered by
//! `RUST_LOG` (default: warnings), as lines for people or, with
//! `--log-format json` or `ILINK_LOG_FORMAT=json`, as one JSON object per
//! line with the spans it happened in (account, conversation, message id),
//! for a log collector.

use std::fmt;
use std::str::FromStr;

/// The variable that picks the log format.
pub const LOG_FORMAT_VAR: &str = "ILINK_LOG_FORMAT";

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A log format that is neither `text` nor `json`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?}: use text or json")]
pub struct UnknownLogFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(UnknownLogFormat(other.to_owned())),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

impl LogFormat {
    /// The format `--log-format FORMAT` (or `--log-format=FORMAT`) in `args`
    /// asks for, else `ILINK_LOG_FORMAT` (read through `var`), else text.
    /// The flag wins over the variable, as in `ilink`.
    pub fn from_args_and_env(
        args: impl IntoIterator<Item = String>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, UnknownLogFormat> {
        let mut args = args.into_iter();
        let mut flag = None;
        while let Some(arg) = args.next() {
            if arg == "--log-format" {
                flag = args.next();
            } else if let Some(value) = arg.strip_prefix("--log-format=") {
                flag = Some(value.to_owned());
            }
        }
        match flag.or_else(|| var(LOG_FORMAT_VAR).filter(|v| !v.trim().is_empty())) {
            Some(value) => value.parse(),
            None => Ok(Self::Text),
        }
    }
}

/// Sets up logging from the command line and the environment (see the
/// module). An unknown format is reported on stderr and text is used.
pub fn init_logging() {
    let format = LogFormat::from_args_and_env(std::env::args().skip(1), |k| std::env::var(k).ok())
        .unwrap_or_else(|e| {
            eprintln!("warning: {e}; logging as text");
            LogFormat::Text
        });
    init_logging_as(format);
}

/// Sets up logging in `format`, filtered by `RUST_LOG` (default: warnings).
/// A second call (tests, several bots) keeps the first subscriber.
pub fn init_logging_as(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().with_span_list(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_flag_wins_over_the_variable_and_text_is_the_default() {
        let json = |k: &str| (k == LOG_FORMAT_VAR).then(|| "json".to_owned());
        let none = |_: &str| None;
        assert_eq!(
            LogFormat::from_args_and_env(args(&[]), none),
            Ok(LogFormat::Text)
        );
        assert_eq!(
            LogFormat::from_args_and_env(args(&[]), json),
            Ok(LogFormat::Json)
        );
        assert_eq!(
            LogFormat::from_args_and_env(args(&["--log-format", "text"]), json),
            Ok(LogFormat::Text)
        );
        assert_eq!(
            LogFormat::from_args_and_env(args(&["--log-format=json"]), none),
            Ok(LogFormat::Json)
        );
        assert_eq!(
            LogFormat::from_args_and_env(args(&["--log-format", "xml"]), none),
            Err(UnknownLogFormat("xml".to_owned()))
        );
    }
}
