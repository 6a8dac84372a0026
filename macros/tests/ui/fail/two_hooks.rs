use ilink_framework::prelude::*;
use ilink_framework::ConversationKey;

struct Bot;

#[commands]
impl Bot {
    #[on_conversation_start]
    async fn hello(&self, _ctx: &mut Context) -> HandlerResult {
        Ok(())
    }

    #[on_conversation_start]
    async fn hello_again(&self, _ctx: &mut Context) -> HandlerResult {
        Ok(())
    }

    #[on_conversation_end]
    async fn bye(&self, _account: &AccountId, _conversation: &ConversationKey) {}

    // A duplicate even though the first one's signature is fine and this
    // one's is not: the marker is what is reported.
    #[on_conversation_end]
    async fn bye_again(&self) {}

    #[on_account_event]
    async fn event(&self, _event: &AccountEvent) {}

    #[on_account_event]
    async fn event_again(&self, _event: &AccountEvent) {}

    #[on_account_event(always)]
    async fn event_with_arguments(&self, _event: &AccountEvent) {}

    #[on_account_event]
    #[on_conversation_end]
    async fn both(&self, _event: &AccountEvent) {}
}

fn main() {}
