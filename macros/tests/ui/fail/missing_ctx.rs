use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    #[command]
    async fn ping(&self) -> HandlerResult {
        Ok(())
    }

    #[command]
    async fn pong(&self, n: i64, ctx: &mut Context) -> HandlerResult {
        let _ = (n, ctx);
        Ok(())
    }

    #[command]
    async fn shared(&self, ctx: &Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
