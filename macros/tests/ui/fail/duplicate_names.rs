use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    #[command(aliases = ["plus"])]
    async fn add(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    #[command(aliases = ["PLUS"])]
    async fn sum(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    #[command(name = "add")]
    async fn addition(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    #[command(aliases = ["twice", "twice"])]
    async fn double(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
