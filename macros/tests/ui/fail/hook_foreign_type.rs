//! A type that is named like the framework's but is another: the syntax
//! check passes, and the compiler reports the mismatch at the method.
use ilink_framework::prelude::*;

struct AccountEvent;

struct Bot;

#[commands]
impl Bot {
    #[on_account_event]
    async fn event(&self, event: &AccountEvent) {
        let _ = event;
    }
}

fn main() {}
