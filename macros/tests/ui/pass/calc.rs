//! The example of the issue, as users write it.
use ilink_framework::prelude::*;

struct Calc;

#[commands(prefix = "/")]
impl Calc {
    /// Add two integers.
    ///
    /// Longer help text here.
    #[command(aliases = ["plus"])]
    async fn add(&self, ctx: &mut Context, a: i64, b: i64) -> HandlerResult {
        ctx.reply(format!("{}", a + b)).await?;
        Ok(())
    }

    /// Say something back.
    async fn echo(&self, ctx: &mut Context, rest: String) -> HandlerResult {
        ctx.reply(rest).await?;
        Ok(())
    }

    #[fallback]
    async fn chat(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        if let Some(text) = msg.text() {
            ctx.reply(format!("you said {text}")).await?;
        }
        Ok(())
    }
}

fn main() {
    fn is_handler<H: Handler>(_: H) {}
    is_handler(Calc);
}
