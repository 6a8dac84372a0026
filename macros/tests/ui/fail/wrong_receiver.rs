use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    async fn by_value(self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    async fn mutable(&mut self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    async fn no_self(ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
