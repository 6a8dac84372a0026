use ilink_framework::prelude::*;

struct Bot;

impl Bot {
    #[ilink_framework::command]
    async fn ping(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
