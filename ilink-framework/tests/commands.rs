//! Command routes end to end: a `#[commands]` bot against the simulator,
//! typed arguments, usage replies, `/help`, aliases, case, cooldowns,
//! checks, the fallback, per-conversation state, the error hook and the
//! conversation and account hooks.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ilink_framework::ConversationKey;
use ilink_framework::prelude::*;
use ilink_testkit::{BotAccount, Simulator};

const ADMIN: &str = "admin@im.wechat";

struct Calc;

#[derive(Default)]
struct Count(u32);

fn yes_no(input: &str) -> Result<bool, &'static str> {
    match input {
        "yes" | "是" => Ok(true),
        "no" | "否" => Ok(false),
        _ => Err("say yes or no"),
    }
}

#[commands(rename_all = "kebab-case")]
impl Calc {
    /// Add two integers.
    ///
    /// Both must fit in an i64.
    #[command(aliases = ["plus"])]
    async fn add(&self, ctx: &mut Context, a: i64, b: i64) -> HandlerResult {
        ctx.reply(format!("{}", a + b)).await?;
        Ok(())
    }

    /// Say something back.
    async fn echo(&self, ctx: &mut Context, text: String) -> HandlerResult {
        ctx.reply(text).await?;
        Ok(())
    }

    /// Greet someone, or you.
    async fn greet(&self, ctx: &mut Context, name: Option<String>) -> HandlerResult {
        ctx.reply(format!("hello {}", name.as_deref().unwrap_or("you")))
            .await?;
        Ok(())
    }

    /// Count your messages here.
    async fn count(&self, ctx: &mut Context) -> HandlerResult {
        let n = {
            let count = ctx.state::<Count>();
            count.0 += 1;
            count.0
        };
        ctx.reply(n.to_string()).await?;
        Ok(())
    }

    /// Roll a die, once a minute.
    #[command(cooldown = 60)]
    async fn roll(&self, ctx: &mut Context) -> HandlerResult {
        ctx.reply("4").await?;
        Ok(())
    }

    /// Turn the quiet mode on or off.
    async fn set_quiet(
        &self,
        ctx: &mut Context,
        #[arg(parse_with = yes_no)] on: bool,
    ) -> HandlerResult {
        ctx.reply(format!("quiet: {on}")).await?;
        Ok(())
    }

    /// Stop the bot.
    #[command(check = Self::is_admin, hidden)]
    async fn shutdown(&self, ctx: &mut Context) -> HandlerResult {
        ctx.reply("bye").await?;
        Ok(())
    }

    async fn is_admin(&self, ctx: &Context) -> bool {
        ctx.message().sender() == ADMIN
    }

    #[fallback]
    async fn chat(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        ctx.reply(format!("chat: {}", msg.text().unwrap_or("(no text)")))
            .await?;
        Ok(())
    }
}

/// Sends `text` as `user` and returns the bot's next reply to them.
async fn ask(sim: &Simulator, bot: &BotAccount, user: &str, text: &str) -> String {
    let before = sim.delivered_to(bot, user).len();
    sim.user(bot, user).say(text).await;
    let sent = sim
        .wait_for_sent_to(bot, user, before + 1, WAIT)
        .await
        .expect("the bot answers");
    sent[before].text().unwrap_or_default()
}

async fn calc() -> (Simulator, BotAccount, BotHandle) {
    let sim = sim().await;
    let bot = sim.add_account("calc");
    let handle = start(&sim, &bot, Calc, fast_options()).await;
    (sim, bot, handle)
}

const U: &str = "u@im.wechat";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_arguments_aliases_and_case() {
    let (sim, bot, handle) = calc().await;
    assert_eq!(ask(&sim, &bot, U, "/add 1 2").await, "3");
    assert_eq!(ask(&sim, &bot, U, "/PLUS 40 2").await, "42");
    assert_eq!(ask(&sim, &bot, U, "／Ａｄｄ\u{3000}-1\u{3000}1").await, "0");
    assert_eq!(ask(&sim, &bot, U, "/set-quiet 是").await, "quiet: true");
    assert_eq!(
        ask(&sim, &bot, U, "/echo  “quoted”   spacing kept").await,
        "“quoted”   spacing kept"
    );
    assert_eq!(ask(&sim, &bot, U, "/greet").await, "hello you");
    // A last `Option<String>` takes the rest of the line verbatim.
    assert_eq!(
        ask(&sim, &bot, U, "/greet Ann  Lee").await,
        "hello Ann  Lee"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_and_unknown_commands_answer_with_usage() {
    let (sim, bot, handle) = calc().await;
    assert_eq!(
        ask(&sim, &bot, U, "/add 1 x").await,
        "invalid <b>: `x` is not a valid i64 (invalid digit found in string)\n\
         Usage: /add <a> <b>"
    );
    assert_eq!(
        ask(&sim, &bot, U, "/add 1").await,
        "missing argument <b>\nUsage: /add <a> <b>"
    );
    assert_eq!(
        ask(&sim, &bot, U, "/add 1 2 3").await,
        "too many arguments: `3` was not expected\nUsage: /add <a> <b>"
    );
    assert_eq!(
        ask(&sim, &bot, U, "/set-quiet maybe").await,
        "invalid <on>: `maybe` is not a valid bool (say yes or no)\nUsage: /set-quiet <on>"
    );
    assert_eq!(
        ask(&sim, &bot, U, "/sub 1 2").await,
        "Unknown command: sub. Send /help to see the commands."
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_commands_and_explains_one() {
    let (sim, bot, handle) = calc().await;
    assert_eq!(
        ask(&sim, &bot, U, "/help").await,
        "Commands:\n\
         /add <a> <b> — Add two integers.\n\
         /count — Count your messages here.\n\
         /echo <text...> — Say something back.\n\
         /greet [name...] — Greet someone, or you.\n\
         /help [command] — List the commands, or explain one.\n\
         /roll — Roll a die, once a minute.\n\
         /set-quiet <on> — Turn the quiet mode on or off.\n\
         \n\
         Send /help <command> for details."
    );
    assert_eq!(
        ask(&sim, &bot, U, "/help plus").await,
        "/add <a> <b>\n\nAdd two integers.\n\nBoth must fit in an i64.\n\nAliases: /plus"
    );
    assert_eq!(
        ask(&sim, &bot, U, "/HELP shutdown").await,
        "/shutdown\n\nStop the bot."
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_is_per_user() {
    let (sim, bot, handle) = calc().await;
    assert_eq!(ask(&sim, &bot, U, "/roll").await, "4");
    // The wait is rounded up: 60s unless the machine stalled for a second.
    let refused = ask(&sim, &bot, U, "/roll").await;
    let secs: u64 = refused
        .strip_prefix("The roll command is cooling down; try again in ")
        .and_then(|s| s.strip_suffix("s."))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{refused}"));
    assert!((55..=60).contains(&secs), "{refused}");
    assert_eq!(ask(&sim, &bot, "other@im.wechat", "/roll").await, "4");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_refuse_other_users() {
    let (sim, bot, handle) = calc().await;
    assert_eq!(
        ask(&sim, &bot, U, "/shutdown").await,
        "You are not allowed to use the shutdown command."
    );
    assert_eq!(ask(&sim, &bot, ADMIN, "/shutdown").await, "bye");
    // Arguments that do not fit do not get past the check either: no usage
    // is shown to a user who may not run the command.
    assert_eq!(
        ask(&sim, &bot, U, "/shutdown now").await,
        "You are not allowed to use the shutdown command."
    );
    let admin = ask(&sim, &bot, ADMIN, "/shutdown now").await;
    assert!(admin.contains("Usage: /shutdown"), "{admin}");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_text_goes_to_the_fallback() {
    let (sim, bot, handle) = calc().await;
    assert_eq!(ask(&sim, &bot, U, "hello there").await, "chat: hello there");
    assert_eq!(ask(&sim, &bot, U, "/").await, "chat: /");
    let image = sim.user(&bot, U).send_image(b"not really a png").await;
    drop(image);
    let sent = sim.wait_for_sent_to(&bot, U, 3, WAIT).await.unwrap();
    assert_eq!(sent[2].text().as_deref(), Some("chat: (no text)"));
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_lives_with_the_conversation() {
    let (sim, bot, handle) = calc().await;
    assert_eq!(ask(&sim, &bot, U, "/count").await, "1");
    assert_eq!(ask(&sim, &bot, U, "/count").await, "2");
    assert_eq!(ask(&sim, &bot, "other@im.wechat", "/count").await, "1");
    assert_eq!(ask(&sim, &bot, U, "/count").await, "3");
    handle.shutdown().await;
}

/// A bot without a fallback and with its own error hook and prefix.
struct Strict;

#[commands(prefix = "!", help = false)]
impl Strict {
    async fn ping(&self, ctx: &mut Context) -> HandlerResult {
        ctx.reply("pong").await?;
        Ok(())
    }

    async fn fail(&self, _ctx: &mut Context) -> HandlerResult {
        Err("the database is down".into())
    }

    async fn double(&self, ctx: &mut Context, n: i64) -> HandlerResult {
        ctx.reply((2 * n).to_string()).await?;
        Ok(())
    }

    #[command(cooldown = 60)]
    async fn roll(&self, ctx: &mut Context) -> HandlerResult {
        ctx.reply("4").await?;
        Ok(())
    }

    #[on_error]
    async fn oops(&self, ctx: &mut Context, error: FrameworkError) {
        let text = match &error {
            FrameworkError::Command(CommandError::UnknownCommand { name, help }) => {
                format!("no such command: {name} (help: {help:?})")
            }
            FrameworkError::Command(CommandError::BadArgument {
                command,
                arg,
                expected,
                value,
                usage,
                ..
            }) => format!("{command}: <{arg}> wants an {expected}, not {value:?} ({usage})"),
            FrameworkError::Command(CommandError::Cooldown { command, remaining }) => {
                format!(
                    "{command} again in {} minute",
                    remaining.as_secs().div_ceil(60)
                )
            }
            FrameworkError::Handler(e) => format!("failed: {e}"),
            other => other.user_message(),
        };
        let _ = ctx.reply(text).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fallback_other_text_is_ignored_and_on_error_is_overridden() {
    let sim = sim().await;
    let bot = sim.add_account("strict");
    let handle = start(&sim, &bot, Strict, fast_options()).await;
    sim.user(&bot, U).say("hello").await;
    sim.user(&bot, U).say("/ping").await;
    assert_eq!(ask(&sim, &bot, U, "!PING").await, "pong");
    // Nothing answered the plain text nor the other prefix: pong came first.
    assert_eq!(texts_to(&sim, &bot, U), ["pong"]);
    assert_eq!(
        ask(&sim, &bot, U, "!help").await,
        "no such command: help (help: None)"
    );
    assert_eq!(
        ask(&sim, &bot, U, "!double two").await,
        "double: <n> wants an i64, not \"two\" (!double <n>)"
    );
    assert_eq!(ask(&sim, &bot, U, "!double 21").await, "42");
    assert_eq!(ask(&sim, &bot, U, "!roll").await, "4");
    assert_eq!(ask(&sim, &bot, U, "!roll").await, "roll again in 1 minute");
    assert_eq!(
        ask(&sim, &bot, U, "!fail").await,
        "failed: the database is down"
    );
    assert_eq!(
        ask(&sim, &bot, U, "!ping now").await,
        "too many arguments: `now` was not expected\nUsage: !ping"
    );
    handle.shutdown().await;
}

/// A bot that writes down every hook the macro wired, in the order they ran.
#[derive(Clone, Default)]
struct Hooked {
    log: Arc<Mutex<Vec<String>>>,
}

#[commands]
impl Hooked {
    async fn ping(&self, ctx: &mut Context) -> HandlerResult {
        self.record(format!("ping {}", ctx.conversation()));
        ctx.reply("pong").await?;
        Ok(())
    }

    #[on_conversation_start]
    async fn hello(&self, ctx: &mut Context) -> HandlerResult {
        self.record(format!("start {}", ctx.conversation()));
        ctx.reply("welcome").await?;
        Ok(())
    }

    #[on_conversation_end]
    async fn bye(&self, account: &AccountId, conversation: &ConversationKey) {
        self.record(format!("end {account} {conversation}"));
    }

    #[on_account_event]
    async fn event(&self, event: &AccountEvent) {
        // Polls may fail or time out on a loaded machine; only the start is
        // certain to happen exactly once.
        if event.kind == AccountEventKind::Started {
            self.record(format!("started {}", event.account));
        }
    }

    fn record(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `line` was recorded.
    async fn wait_for(&self, line: &str) {
        tokio::time::timeout(WAIT, async {
            while !self.log().iter().any(|l| l == line) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("`{line}` was never recorded: {:?}", self.log()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_and_account_hooks_are_called() {
    let sim = sim().await;
    let bot = sim.add_account("hooked");
    let hooked = Hooked::default();
    let options = fast_options()
        // Long enough that the two first pings are never split by an
        // eviction, short enough to wait for one.
        .idle_timeout(Duration::from_secs(1));
    let handle = start(&sim, &bot, hooked.clone(), options).await;
    let account = bot.bot_id.as_str();
    hooked.wait_for(&format!("started {account}")).await;

    // The start hook runs before the first command, and only before it.
    // Back to back, so no eviction can fall between them; not the same
    // text, which in the same millisecond would be dropped as a redelivery.
    sim.user(&bot, U).say("/ping").await;
    sim.user(&bot, U).say("/PING").await;
    sim.wait_for_sent_to(&bot, U, 3, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?} {:?}", texts_to(&sim, &bot, U), hooked.log()));
    assert_eq!(texts_to(&sim, &bot, U), ["welcome", "pong", "pong"]);

    // Idle past the timeout: the conversation is evicted and ends…
    hooked.wait_for(&format!("end {account} {U}")).await;
    // …and coming back starts it again.
    sim.user(&bot, U).say("/ping").await;
    sim.wait_for_sent_to(&bot, U, 5, WAIT).await.unwrap();
    assert_eq!(
        texts_to(&sim, &bot, U)[3..],
        ["welcome".to_owned(), "pong".to_owned()]
    );
    assert_eq!(
        hooked.log(),
        [
            format!("started {account}"),
            format!("start {U}"),
            format!("ping {U}"),
            format!("ping {U}"),
            format!("end {account} {U}"),
            format!("start {U}"),
            format!("ping {U}"),
        ]
    );
    handle.shutdown().await;
}
