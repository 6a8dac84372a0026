use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    #[on_error]
    async fn oops(&self, ctx: &mut Context, error: &FrameworkError) {
        let _ = (ctx, error);
    }
}

struct Bot2;

#[commands]
impl Bot2 {
    #[on_error]
    async fn oops(&self, ctx: &mut Context, error: FrameworkError) -> HandlerResult {
        let _ = (ctx, error);
        Ok(())
    }
}

fn main() {}
