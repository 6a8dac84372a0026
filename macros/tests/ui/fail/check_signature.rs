use ilink_framework::prelude::*;

struct Bot;

fn sync_check(ctx: &Context) -> bool {
    ctx.message().sender().ends_with("@im.wechat")
}

#[commands]
impl Bot {
    #[command(check = sync_check)]
    async fn admin(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
