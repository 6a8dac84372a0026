use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    async fn greet(&self, ctx: &mut Context, name: Option<String>, times: u8) -> HandlerResult {
        let _ = (ctx, name, times);
        Ok(())
    }

    async fn say(&self, ctx: &mut Context, to: Option<String>, text: String) -> HandlerResult {
        let _ = (ctx, to, text);
        Ok(())
    }
}

fn main() {}
