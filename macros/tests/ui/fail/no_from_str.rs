use ilink_framework::prelude::*;

struct Point {
    x: i32,
}

struct Bot;

#[commands]
impl Bot {
    async fn go(&self, ctx: &mut Context, to: Point) -> HandlerResult {
        let _ = (ctx, to.x);
        Ok(())
    }
}

fn main() {}
