use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    async fn note(
        &self,
        ctx: &mut Context,
        #[arg(rest)] body: String,
        tag: String,
    ) -> HandlerResult {
        let _ = (ctx, body, tag);
        Ok(())
    }
}

fn main() {}
