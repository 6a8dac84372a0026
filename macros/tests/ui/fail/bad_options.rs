use ilink_framework::prelude::*;

struct Bot;

#[commands(rename_all = "SHOUTING")]
impl Bot {
    #[command(cooldown = "5 parsecs")]
    async fn roll(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    #[command(name = "two words")]
    async fn spaced(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    #[command(name = "/slash")]
    async fn slash(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    #[skip]
    #[command]
    async fn both(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    async fn no_result(&self, ctx: &mut Context) {
        let _ = ctx;
    }

    async fn pattern(&self, ctx: &mut Context, (a, b): (i64, i64)) -> HandlerResult {
        let _ = (ctx, a, b);
        Ok(())
    }
}

fn main() {}
