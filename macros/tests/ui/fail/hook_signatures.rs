use ilink_framework::prelude::*;
use ilink_framework::ConversationKey;

struct Start;

#[commands]
impl Start {
    #[on_conversation_start]
    async fn hello(&self, ctx: &mut Context, msg: &Message) -> HandlerResult {
        let _ = (ctx, msg);
        Ok(())
    }
}

struct StartUnit;

#[commands]
impl StartUnit {
    #[on_conversation_start]
    async fn hello(&self, ctx: &mut Context) {
        let _ = ctx;
    }
}

struct EndWithContext;

#[commands]
impl EndWithContext {
    #[on_conversation_end]
    async fn bye(&self, ctx: &mut Context) {
        let _ = ctx;
    }
}

struct EndMissing;

#[commands]
impl EndMissing {
    #[on_conversation_end]
    async fn bye(&self, account: &AccountId) {
        let _ = account;
    }
}

struct EndByValue;

#[commands]
impl EndByValue {
    #[on_conversation_end]
    async fn bye(&self, account: &AccountId, conversation: ConversationKey) {
        let _ = (account, conversation);
    }
}

struct EventByValue;

#[commands]
impl EventByValue {
    #[on_account_event]
    async fn event(&self, event: AccountEvent) {
        let _ = event;
    }
}

struct EventExtra;

#[commands]
impl EventExtra {
    #[on_account_event]
    async fn event(&self, event: &AccountEvent, n: u32) {
        let _ = (event, n);
    }
}

struct EventResult;

#[commands]
impl EventResult {
    #[on_account_event]
    async fn event(&self, event: &AccountEvent) -> HandlerResult {
        let _ = event;
        Ok(())
    }
}

struct EventSync;

#[commands]
impl EventSync {
    #[on_account_event]
    fn event(&self, event: &AccountEvent) {
        let _ = event;
    }
}

struct EventMut;

#[commands]
impl EventMut {
    #[on_account_event]
    async fn event(&mut self, event: &AccountEvent) {
        let _ = event;
    }
}

fn main() {}
