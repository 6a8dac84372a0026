use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    #[fallback]
    async fn chat(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        let _ = (ctx, msg);
        Ok(())
    }

    #[fallback]
    async fn other(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        let _ = (ctx, msg);
        Ok(())
    }
}

fn main() {}
