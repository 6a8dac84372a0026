use ilink_framework::prelude::*;

struct Bot;

#[commands]
impl Bot {
    #[command]
    fn ping(&self, ctx: &mut Context) -> HandlerResult {
        let _ = ctx;
        Ok(())
    }

    // Takes the context, so it is a command unless marked #[skip].
    fn helper(&self, ctx: &mut Context) {
        let _ = ctx;
    }
}

fn main() {}
