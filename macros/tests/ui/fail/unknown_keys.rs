use ilink_framework::prelude::*;

struct Bot;

#[commands(prefx = "!")]
impl Bot {
    #[command(alias_list = ["x"])]
    async fn add(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    async fn hex(&self, ctx: &mut Context, #[arg(parse = u32::from_str)] n: u32) -> HandlerResult {
        let _ = (ctx, n);
        Ok(())
    }

    #[fallback(always)]
    async fn chat(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        let _ = (ctx, msg);
        Ok(())
    }
}

fn main() {}
