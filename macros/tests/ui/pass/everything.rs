//! Every option at once, state, every hook, a generic bot, helpers kept.
use std::marker::PhantomData;
use std::net::IpAddr;

use ilink_framework::prelude::*;

#[derive(Default)]
struct Count(u32);

struct Bot<T> {
    admins: Vec<String>,
    _marker: PhantomData<T>,
}

async fn is_admin<T: Send + Sync + 'static>(bot: &Bot<T>, ctx: &Context) -> bool {
    bot.admins.iter().any(|a| a == ctx.message().sender())
}

fn yes_no(input: &str) -> Result<bool, String> {
    match input {
        "yes" | "是" => Ok(true),
        "no" | "否" => Ok(false),
        _ => Err("say yes or no".to_owned()),
    }
}

#[commands(prefix = "!", rename_all = "kebab-case", help = false, crate = ::ilink_framework)]
impl<T: Send + Sync + 'static> Bot<T> {
    const GREETING: &'static str = "hi";

    /// Count the messages of this conversation.
    async fn count(&self, ctx: &mut Context) -> HandlerResult {
        let n = {
            let count = ctx.state::<Count>();
            count.0 += 1;
            count.0
        };
        ctx.reply(n.to_string()).await?;
        Ok(())
    }

    #[command(name = "ip", alias = "addr", description = "Parse an address.", hidden)]
    async fn parse_ip(&self, ctx: &mut Context, ip: IpAddr, port: Option<u16>) -> HandlerResult {
        ctx.reply(format!("{ip} {port:?}")).await?;
        Ok(())
    }

    #[command(check = is_admin, check = Self::not_banned, cooldown = 5)]
    async fn set_mode(
        &self,
        ctx: &mut Context,
        #[arg(parse_with = yes_no)] on: bool,
        note: Option<String>,
    ) -> HandlerResult {
        ctx.reply(format!("{on} {note:?} {}", Self::GREETING)).await?;
        Ok(())
    }

    #[command(cooldown = "1m 30s")]
    async fn vote(
        &self,
        _ctx: &mut Context,
        #[arg(parse_with = yes_no)] _choice: Option<bool>,
    ) -> Result<(), std::io::Error> {
        Ok(())
    }

    async fn not_banned(&self, ctx: &Context) -> bool {
        !ctx.message().sender().starts_with("banned")
    }

    #[skip]
    async fn log(&self, ctx: &mut Context, line: &str) {
        let _ = (ctx, line);
    }

    fn new() -> Self {
        Bot {
            admins: Vec::new(),
            _marker: PhantomData,
        }
    }

    #[fallback]
    async fn chat(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        self.log(ctx, msg.text().unwrap_or_default()).await;
        Ok(())
    }

    #[on_error]
    async fn oops(&self, ctx: &mut Context, error: FrameworkError) {
        match error {
            FrameworkError::Command(CommandError::CheckFailed { .. }) => {
                let _ = ctx.reply("admins only").await;
            }
            other => ilink_framework::default_on_error(ctx, &other).await,
        }
    }

    #[on_conversation_start]
    async fn hello(&self, ctx: &mut Context) -> Result<(), std::io::Error> {
        ctx.state::<Count>().0 = 0;
        Ok(())
    }

    #[on_conversation_end]
    async fn bye(&self, account: &AccountId, conversation: &ilink_framework::ConversationKey) {
        let _ = (account, conversation);
    }

    #[on_account_event]
    async fn event(&self, event: &AccountEvent) -> () {
        if event.kind == AccountEventKind::SessionExpired {
            let _ = Self::GREETING;
        }
    }
}

/// No commands at all: every message goes to the fallback.
struct Quiet;

#[commands]
impl Quiet {
    #[fallback]
    async fn chat(&self, _ctx: &mut Context, _msg: &Message) -> HandlerResult {
        Ok(())
    }
}

/// No fallback: other messages are ignored.
struct OnlyCommands;

#[commands]
impl OnlyCommands {
    async fn ping(&self, ctx: &mut Context) -> HandlerResult {
        ctx.reply("pong").await?;
        Ok(())
    }
}

fn main() {
    fn is_handler<H: Handler>(_: H) {}
    is_handler(Bot::<u8>::new());
    is_handler(Quiet);
    is_handler(OnlyCommands);
}
