//! Command routes with `#[commands]`: typed arguments, `/help` from doc
//! comments, aliases, a check, a cooldown and a fallback for other text.
//!
//! ```sh
//! cargo run --example commands
//! ```
//!
//! The macro turns the impl block into a `Handler`: `/add 2 3` calls
//! `add(ctx, 2, 3)`; a bad argument gets the usage line back; texts that are
//! not commands go to the `#[fallback]`. `docs/commands.md` has every option.

use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, Target};
use ilink_framework::prelude::*;

/// A calculator with a few extras.
pub struct Calc {
    /// Users allowed to run `/reset`.
    pub admins: Vec<String>,
}

/// This conversation's running total.
#[derive(Default)]
pub struct Total(pub i64);

#[commands]
impl Calc {
    /// Add two integers.
    ///
    /// Both must fit in an i64: `/add 2 40`.
    #[command(aliases = ["plus", "sum"])]
    async fn add(&self, ctx: &mut Context, a: i64, b: i64) -> HandlerResult {
        let sum = a.saturating_add(b);
        ctx.state::<Total>().0 += sum;
        ctx.reply(format!("{a} + {b} = {sum}")).await?;
        Ok(())
    }

    /// Roll a die with some sides (default 6), once every 30 seconds.
    #[command(cooldown = 30)]
    async fn roll(&self, ctx: &mut Context, sides: Option<u32>) -> HandlerResult {
        let sides = sides.unwrap_or(6).max(1);
        // Deterministic, so the scripted conversation is repeatable.
        ctx.reply(format!("You rolled {} (d{sides})", sides / 2 + 1))
            .await?;
        Ok(())
    }

    /// Forget this conversation's total (admins only).
    #[command(check = Self::is_admin)]
    async fn reset(&self, ctx: &mut Context) -> HandlerResult {
        ctx.state::<Total>().0 = 0;
        ctx.reply("Total reset.").await?;
        Ok(())
    }

    /// Any text that is not a command.
    #[fallback]
    async fn chat(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        let total = ctx.state::<Total>().0;
        let said = msg.text().unwrap_or("something");
        ctx.reply(format!(
            "You said \"{said}\"; the total is {total}. Try /help."
        ))
        .await?;
        Ok(())
    }

    async fn is_admin(&self, ctx: &Context) -> bool {
        self.admins.iter().any(|a| a == ctx.message().sender())
    }
}

/// Help, a command and its alias, a bad argument, the cooldown, the check,
/// and plain text.
pub fn script() -> Script {
    let alice = "alice@im.wechat";
    Script::new()
        .say(alice, "/help", 1)
        .say(alice, "/add 2 40", 1)
        .say(alice, "/plus 1 x", 1)
        .say(alice, "/roll 20", 1)
        .say(alice, "/roll", 1)
        .say(alice, "/reset", 1)
        .say(alice, "what is the total?", 1)
        .say("root@im.wechat", "/reset", 1)
}

#[tokio::main]
async fn main() -> Result<(), ExampleError> {
    let bot = Calc {
        admins: vec!["root@im.wechat".to_owned()],
    };
    // A real bot runs `Bot::from_env(bot)`; here the settings come from the
    // same place, or from the embedded simulator when nothing is configured.
    let target = Target::from_env(&["demo"]).await?;
    target.play(script());
    Bot::builder(bot)
        .settings(target.settings())
        .build()?
        .run() // until ctrl-c: drain, flush, notifystop
        .await?;
    target.stop().await;
    Ok(())
}
