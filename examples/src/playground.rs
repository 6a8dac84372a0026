//! The embedded simulator the examples talk to when no credentials are set,
//! and the scripted conversation they hold with it.
//!
//! A [`Script`] is a list of things users do (say a text, send an image, a
//! file, a voice message) with the number of bot messages to wait for after
//! each. [`Playground::play`] performs it and prints both sides, in order,
//! as they happen; it also returns the [`Transcript`], which the tests read.
//!
//! ```no_run
//! use ilink_examples::playground::{Playground, Script};
//! use ilink_testkit::SimConfig;
//!
//! # async fn demo() -> Result<(), ilink_examples::ExampleError> {
//! let playground = Playground::start(SimConfig::default(), &["demo"]).await?;
//! // … start a bot with playground.credentials() …
//! let transcript = playground
//!     .play(&Script::new().say("alice@im.wechat", "hello", 1))
//!     .await;
//! assert_eq!(transcript.bot_lines().count(), 1);
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use ilink_framework::Credentials;
use ilink_framework::core::types::{ItemType, MessageItem};
use ilink_testkit::{BotAccount, NotifyKind, SentMessage, SimConfig, Simulator};

use crate::ExampleError;

/// How long the playground waits for the bot's replies to one step. Only a
/// guard against a stuck bot: waiting ends as soon as the replies arrive.
pub const REPLY_WAIT: Duration = Duration::from_secs(120);

/// Longest content shown on one transcript line; the rest is summarized.
const SHOWN_CHARS: usize = 400;

/// What a scripted user does in one step.
#[derive(Clone, Debug)]
pub enum Action {
    /// Writes a text.
    Say(String),
    /// Sends an image (these bytes, encrypted on the simulator's CDN).
    Image(Vec<u8>),
    /// Sends a file attachment.
    File {
        /// Its name.
        name: String,
        /// Its content.
        bytes: Vec<u8>,
    },
    /// Sends a voice message, with the server's speech-to-text.
    Voice {
        /// The audio.
        bytes: Vec<u8>,
        /// The transcript WeChat attaches.
        transcript: Option<String>,
    },
}

/// One step of a [`Script`].
#[derive(Clone, Debug)]
pub struct Step {
    /// The bot account written to (`None`: the playground's first).
    pub account: Option<String>,
    /// The user, e.g. `alice@im.wechat`.
    pub user: String,
    /// What the user does.
    pub action: Action,
    /// Bot messages (to anyone) to wait for before the next step. `0` lets
    /// the next step start at once, so users can write at the same time.
    pub replies: usize,
}

/// A scripted conversation: users writing to the bot, step by step.
#[derive(Clone, Debug, Default)]
pub struct Script {
    steps: Vec<Step>,
    account: Option<String>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Following steps write to this bot account (`name` or `name@im.bot`).
    pub fn to_account(mut self, name: &str) -> Self {
        self.account = Some(bot_id(name));
        self
    }

    /// Adds a step.
    pub fn step(mut self, user: &str, action: Action, replies: usize) -> Self {
        self.steps.push(Step {
            account: self.account.clone(),
            user: user.to_owned(),
            action,
            replies,
        });
        self
    }

    /// `user` writes `text`, then the bot sends `replies` messages.
    pub fn say(self, user: &str, text: &str, replies: usize) -> Self {
        self.step(user, Action::Say(text.to_owned()), replies)
    }

    /// `user` sends an image.
    pub fn image(self, user: &str, bytes: &[u8], replies: usize) -> Self {
        self.step(user, Action::Image(bytes.to_vec()), replies)
    }

    /// `user` sends a file.
    pub fn file(self, user: &str, name: &str, bytes: &[u8], replies: usize) -> Self {
        let action = Action::File {
            name: name.to_owned(),
            bytes: bytes.to_vec(),
        };
        self.step(user, action, replies)
    }

    /// `user` sends a voice message with its transcript.
    pub fn voice(self, user: &str, bytes: &[u8], transcript: &str, replies: usize) -> Self {
        let action = Action::Voice {
            bytes: bytes.to_vec(),
            transcript: Some(transcript.to_owned()),
        };
        self.step(user, action, replies)
    }

    /// The steps.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Bot messages the whole script waits for.
    pub fn total_replies(&self) -> usize {
        self.steps.iter().map(|s| s.replies).sum()
    }
}

/// Who wrote a transcript line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A scripted user.
    User,
    /// The bot.
    Bot,
}

/// One message of a conversation, either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Who wrote it.
    pub side: Side,
    /// The bot account involved.
    pub account: String,
    /// The user involved.
    pub user: String,
    /// Its text, or a description of its media, e.g. `[image, 67 bytes]`.
    pub content: String,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (from, to) = match self.side {
            Side::User => (&self.user, &self.account),
            Side::Bot => (&self.account, &self.user),
        };
        let chars = self.content.chars().count();
        if chars > SHOWN_CHARS {
            let shown: String = self.content.chars().take(SHOWN_CHARS).collect();
            write!(f, "{from} → {to}: {shown}… ({chars} characters)")
        } else {
            write!(f, "{from} → {to}: {}", self.content)
        }
    }
}

/// Both sides of a scripted conversation, in the order they happened.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    /// The lines.
    pub lines: Vec<Line>,
    /// Whether every step got the replies it waited for.
    pub complete: bool,
}

impl Transcript {
    /// What the bot sent, in order.
    pub fn bot_lines(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().filter(|l| l.side == Side::Bot)
    }

    /// What the bot sent to `user`, in order.
    pub fn bot_said_to(&self, user: &str) -> Vec<&str> {
        self.bot_lines()
            .filter(|l| l.user == user)
            .map(|l| l.content.as_str())
            .collect()
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A simulator running in this process, with its bot accounts.
pub struct Playground {
    sim: Simulator,
    accounts: std::sync::Mutex<Vec<BotAccount>>,
}

impl Playground {
    /// Starts a simulator with `config` and one account per name
    /// (`name@im.bot`).
    pub async fn start(config: SimConfig, names: &[&str]) -> Result<Self, ExampleError> {
        let sim = Simulator::start_with(config).await?;
        let accounts = names.iter().map(|n| sim.add_account(n)).collect();
        Ok(Self {
            sim,
            accounts: std::sync::Mutex::new(accounts),
        })
    }

    /// The simulator, to inspect what the bot did.
    pub fn sim(&self) -> &Simulator {
        &self.sim
    }

    /// The bot accounts, oldest first.
    pub fn accounts(&self) -> Vec<BotAccount> {
        self.accounts.lock().expect("accounts lock").clone()
    }

    /// The account `name` (or `name@im.bot`).
    pub fn account(&self, name: &str) -> Option<BotAccount> {
        let id = bot_id(name);
        self.accounts().into_iter().find(|a| a.bot_id == id)
    }

    /// Credentials of every account, pointing at the simulator.
    pub fn credentials(&self) -> Vec<Credentials> {
        self.accounts()
            .iter()
            .map(|a| self.credentials_of(a))
            .collect()
    }

    /// Creates another account (as a QR login would) and returns its credentials.
    pub fn add_account(&self, name: &str) -> Credentials {
        let account = self.sim.add_account(name);
        let creds = self.credentials_of(&account);
        self.accounts.lock().expect("accounts lock").push(account);
        creds
    }

    fn credentials_of(&self, account: &BotAccount) -> Credentials {
        Credentials::new(account.bot_id.as_str(), account.token.clone())
            .with_base_url(self.sim.base_url())
            .with_cdn_base_url(self.sim.cdn_base_url())
    }

    /// How to reach the simulator from outside this process.
    pub fn banner(&self) -> String {
        let base = self.sim.base_url();
        let bot = self
            .accounts()
            .first()
            .map(|a| a.bot_id.clone())
            .unwrap_or_default();
        format!(
            "Simulator (embedded; no credentials found, nothing leaves this machine)\n  \
             API: {base}\n  CDN: {cdn}\n  accounts: {accounts}\n\
             Chat with the bot in a browser: {base}/chat\n\
             Or from another terminal with the control API (docs/testing.md):\n  \
             curl -s -X POST {base}/mock/inbound -d '{{\"recipient\":\"{bot}\",\"sender\":\"bob@im.wechat\",\"text\":\"hello\"}}'\n  \
             curl -s '{base}/mock/sent?recipient=bob@im.wechat'",
            cdn = self.sim.cdn_base_url(),
            accounts = self
                .accounts()
                .iter()
                .map(|a| a.bot_id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    /// Performs `script`, printing each line as it happens; returns the transcript.
    pub async fn play(&self, script: &Script) -> Transcript {
        let mut transcript = Transcript {
            lines: Vec::new(),
            complete: true,
        };
        let mut seen = self.delivered().await.len();
        let mut expected = seen;
        for step in script.steps() {
            let account = match &step.account {
                Some(id) => self.account(id),
                None => self.accounts().first().cloned(),
            };
            let Some(account) = account else {
                crate::outln!("(script: no account {:?}; step skipped)", step.account);
                transcript.complete = false;
                continue;
            };
            let user = self.sim.user(&account, &step.user);
            let content = match &step.action {
                Action::Say(text) => {
                    user.say(text.clone()).await;
                    text.clone()
                }
                Action::Image(bytes) => {
                    user.send_image(bytes).await;
                    format!("[image, {} bytes]", bytes.len())
                }
                Action::File { name, bytes } => {
                    user.send_file(name.clone(), bytes).await;
                    format!("[file {name}, {} bytes]", bytes.len())
                }
                Action::Voice { bytes, transcript } => {
                    user.send_voice(bytes, transcript.as_deref()).await;
                    format!(
                        "[voice, {} bytes: \"{}\"]",
                        bytes.len(),
                        transcript.as_deref().unwrap_or("")
                    )
                }
            };
            let line = Line {
                side: Side::User,
                account: account.bot_id.clone(),
                user: step.user.clone(),
                content,
            };
            crate::outln!("{line}");
            transcript.lines.push(line);

            expected += step.replies;
            if step.replies == 0 {
                continue;
            }
            let arrived = self
                .sim
                .wait_for(&format!("{expected} bot messages"), REPLY_WAIT, |sent| {
                    (sent.iter().filter(|m| m.delivered()).count() >= expected).then_some(())
                })
                .await;
            if arrived.is_err() {
                crate::outln!("(the bot sent fewer messages than the script expected)");
                transcript.complete = false;
            }
            let delivered = self.delivered().await;
            for sent in &delivered[seen.min(delivered.len())..] {
                let line = Line {
                    side: Side::Bot,
                    account: sent.bot_id.clone(),
                    user: sent.to_user_id.clone(),
                    content: self.describe(sent),
                };
                crate::outln!("{line}");
                transcript.lines.push(line);
            }
            seen = delivered.len();
        }
        transcript
    }

    /// Whether the simulator saw `notifystop` from every account.
    pub fn saw_notifystop(&self) -> bool {
        let notes = self.sim.notifications();
        self.accounts().iter().all(|a| {
            notes
                .iter()
                .any(|n| n.bot_id == a.bot_id && matches!(n.kind, NotifyKind::Stop))
        })
    }

    /// Stops the simulator.
    pub async fn shutdown(self) {
        self.sim.shutdown().await;
    }

    /// Every delivered message of every account, in the order they arrived.
    async fn delivered(&self) -> Vec<SentMessage> {
        // The condition holds at once, so this reads the records without waiting.
        self.sim
            .wait_for("the records", Duration::ZERO, |sent| {
                Some(sent.iter().filter(|m| m.delivered()).cloned().collect())
            })
            .await
            .unwrap_or_default()
    }

    fn describe(&self, sent: &SentMessage) -> String {
        let parts: Vec<String> = sent
            .message
            .item_list
            .iter()
            .map(|item| self.describe_item(item))
            .collect();
        parts.join(" ")
    }

    fn describe_item(&self, item: &MessageItem) -> String {
        let size = || {
            self.sim
                .decrypt_media(item)
                .map(|b| format!("{} bytes", b.len()))
                .unwrap_or_else(|e| format!("undecryptable: {e}"))
        };
        match item.item_type {
            ItemType::Text => item
                .text_item
                .as_ref()
                .and_then(|t| t.text.clone())
                .unwrap_or_default(),
            ItemType::Image => format!("[image, {}]", size()),
            ItemType::Video => format!("[video, {}]", size()),
            ItemType::Voice => format!("[voice, {}]", size()),
            ItemType::File => {
                let name = item
                    .file_item
                    .as_ref()
                    .and_then(|f| f.file_name.clone())
                    .unwrap_or_default();
                format!("[file {name}, {}]", size())
            }
            other => format!("[{other:?}]"),
        }
    }
}

/// `name` as a bot id: `name@im.bot` unless it already ends so.
fn bot_id(name: &str) -> String {
    if name.ends_with("@im.bot") {
        name.to_owned()
    } else {
        format!("{name}@im.bot")
    }
}
