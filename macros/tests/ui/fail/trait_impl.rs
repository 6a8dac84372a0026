use ilink_framework::prelude::*;

struct Bot;

trait Named {
    fn name(&self) -> &str;
}

#[commands]
impl Named for Bot {
    fn name(&self) -> &str {
        "bot"
    }
}

fn main() {}
