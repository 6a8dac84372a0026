use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    #[fallback]
    async fn chat(&self, ctx: &mut Context, text: String) -> HandlerResult {
        let _ = (ctx, text);
        Ok(())
    }
}

struct Bot2;

#[commands]
impl Bot2 {
    #[fallback]
    fn chat(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        let _ = (ctx, msg);
        Ok(())
    }
}

struct Bot3;

#[commands]
impl Bot3 {
    #[fallback]
    async fn chat(&self, msg: &Message) -> HandlerResult {
        let _ = msg;
        Ok(())
    }
}

fn main() {}
