//! Example bots for ilink-rs, and the simulator they run against offline.
//!
//! Each file under `examples/examples/` teaches one thing and runs with
//! `cargo run --example NAME` from the workspace root. Each `main` starts
//! its bot as a real bot starts, from the framework's
//! [`Settings`](ilink_framework::Settings): with accounts configured
//! (`ILINK_*` variables or `ilink login`) it serves real WeChat users;
//! without, [`Target`] starts the embedded simulator, where a scripted user
//! holds a short conversation and the transcript is printed. Either way the
//! bot runs until ctrl-c and then shuts down cleanly.
//!
//! - [`Target`]: configured accounts, or the simulator and its script.
//! - [`playground`]: the embedded simulator, scripts and transcripts.
//! - [`openai`]: a streaming client for OpenAI-compatible chat models.
//! - [`logging`]: logs on stderr, as text or JSON (`--log-format json`).
//! - [`console`]: lines on stdout for a person ([`outln!`]), which never stop a bot.

pub mod console;
pub mod logging;
pub mod openai;
pub mod playground;
pub mod target;

pub use logging::{LogFormat, init_logging};
pub use target::Target;

/// A tiny valid PNG (1×1 pixel), for examples that send or receive an image.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Why an example could not run.
#[derive(thiserror::Error)]
pub enum ExampleError {
    /// The environment or the saved accounts configure no usable bot.
    #[error(transparent)]
    Settings(#[from] ilink_framework::SettingsError),
    /// The bot could not be built or started, or its shutdown was interrupted.
    #[error(transparent)]
    Bot(#[from] ilink_framework::BotError),
    /// The embedded simulator could not start.
    #[error("the embedded simulator could not start: {0}")]
    Simulator(#[from] ilink_testkit::SimError),
    /// The simulator's temporary state directory could not be made.
    #[error("no temporary directory for the simulator's state: {0}")]
    Io(#[from] std::io::Error),
}

impl ExampleError {
    /// The state store's error, when that is what stopped the example.
    pub fn store_error(&self) -> Option<&ilink_framework::store::StoreError> {
        use ilink_framework::{BotError, SettingsError};
        match self {
            Self::Settings(SettingsError::Store(e))
            | Self::Bot(BotError::Store(e))
            | Self::Bot(BotError::Settings(SettingsError::Store(e))) => Some(e),
            _ => None,
        }
    }
}

// `main` returning `Err` prints the Debug form; make that the readable one.
impl std::fmt::Debug for ExampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
