//! Account guarantees: typing keepalive, -14 isolation and recovery, accounts
//! added and removed at runtime, media replies.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ilink_core::Endpoint;
use ilink_framework::prelude::*;
use ilink_testkit::{ExpiryMode, Fault, FaultAction};
use tokio::sync::Notify;

struct Thinker {
    release: Notify,
}

#[async_trait]
impl Handler for Thinker {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        ctx.typing();
        self.release.notified().await;
        ctx.reply("thought about it").await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_kept_alive_while_the_handler_runs_and_cancelled_after() {
    let sim = sim().await;
    let bot = sim.add_account("typing");
    let thinker = Arc::new(Thinker {
        release: Notify::new(),
    });
    let options = fast_options().typing_interval(Duration::from_millis(100));
    let handle = start(&sim, &bot, thinker.clone(), options).await;
    sim.user(&bot, "u@im.wechat").say("think").await;
    sim.wait_for_state("three typing keepalives", WAIT, |r| {
        (r.typing.iter().filter(|t| t.status == 1).count() >= 3).then_some(())
    })
    .await
    .unwrap();
    assert!(
        sim.typing_events().iter().all(|t| t.status == 1),
        "no cancel while running"
    );
    thinker.release.notify_one();
    sim.wait_for_state("typing cancelled", WAIT, |r| {
        r.typing.iter().any(|t| t.status == 2).then_some(())
    })
    .await
    .unwrap();
    let events = sim.typing_events();
    assert!(
        events.iter().all(|t| t.ticket_ok && t.ret == 0),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap().status, 2, "cancel comes last");
    assert_eq!(sim.config_calls().len(), 1, "the typing ticket is cached");
    handle.shutdown().await;
}

/// Asks for "typing…" and returns at once.
struct Brief;

#[async_trait]
impl Handler for Brief {
    async fn handle(&self, ctx: &mut Context, _msg: Message) -> HandlerResult {
        ctx.typing();
        ctx.reply("quick").await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_asked_for_by_a_handler_that_returned_before_it_went_out_is_not_shown() {
    let sim = sim().await;
    let bot = sim.add_account("brief");
    // The typing ticket comes slowly: the handler has replied and returned
    // before "typing…" could go out.
    sim.inject(Fault::on(Endpoint::GetConfig, FaultAction::Delay { ms: 500 }).times(1));
    let handle = start(&sim, &bot, Brief, fast_options()).await;
    sim.user(&bot, "u@im.wechat").say("hi").await;
    sim.wait_for_sent_to(&bot, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    // Past the delayed ticket, and then some.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let shown: Vec<_> = sim
        .typing_events()
        .into_iter()
        .filter(|t| t.status == 1)
        .collect();
    assert!(shown.is_empty(), "typing shown after the reply: {shown:?}");
    handle.shutdown().await;
}

struct Echo;

#[async_trait]
impl Handler for Echo {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        ctx.reply(format!(
            "{} says {}",
            ctx.account(),
            msg.text().unwrap_or_default()
        ))
        .await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_pauses_one_account_only_and_recovers() {
    let sim = sim().await;
    let a = sim.add_account("alpha");
    let b = sim.add_account("beta");
    let handle = Bot::builder(Echo)
        .account(creds(&sim, &a))
        .account(creds(&sim, &b))
        .options(fast_options())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let mut events = handle.events();
    sim.expire_session(&a, ExpiryMode::Errcode);
    let expired = wait_event(&mut events, |e| e.kind == AccountEventKind::SessionExpired).await;
    assert_eq!(expired.account.as_str(), a.bot_id);

    sim.user(&b, "u@im.wechat").say("still there?").await;
    let sent = sim
        .wait_for_sent_to(&b, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    assert_eq!(
        sent[0].text().unwrap(),
        format!("{} says still there?", b.bot_id)
    );

    sim.clear_session_expiry(&a);
    let recovered = wait_event(&mut events, |e| e.kind == AccountEventKind::Recovered).await;
    assert_eq!(recovered.account.as_str(), a.bot_id);
    sim.user(&a, "v@im.wechat").say("back?").await;
    sim.wait_for_sent_to(&a, "v@im.wechat", 1, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_credentials_replace_a_stale_token_while_running() {
    let sim = sim().await;
    let a = sim.add_account("gamma");
    let options = fast_options().session_probe_interval(Duration::from_secs(3600));
    let handle = start(&sim, &a, Echo, options).await;
    let mut events = handle.events();
    sim.expire_session(&a, ExpiryMode::Both);
    wait_event(&mut events, |e| e.kind == AccountEventKind::SessionExpired).await;
    // A fresh login issues a new token for the same bot id.
    let renewed = sim.add_account_with("gamma", None);
    assert_ne!(renewed.token, a.token);
    handle
        .replace_credentials(creds(&sim, &renewed))
        .await
        .unwrap();
    wait_event(&mut events, |e| e.kind == AccountEventKind::Recovered).await;
    sim.user(&renewed, "u@im.wechat").say("hello again").await;
    sim.wait_for_sent_to(&renewed, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_can_be_added_and_removed_while_running() {
    let sim = sim().await;
    let a = sim.add_account("first");
    let b = sim.add_account("second");
    let handle = start(&sim, &a, Echo, fast_options()).await;
    assert!(matches!(
        handle.add_account(creds(&sim, &a)).await,
        Err(BotError::AccountAlreadyRunning(_))
    ));
    handle.add_account(creds(&sim, &b)).await.unwrap();
    assert_eq!(handle.accounts().await.len(), 2);
    sim.user(&b, "u@im.wechat").say("hi b").await;
    sim.wait_for_sent_to(&b, "u@im.wechat", 1, WAIT)
        .await
        .unwrap();

    let report = handle
        .remove_account(&AccountId::new(&a.bot_id))
        .await
        .unwrap();
    assert_eq!(report, ilink_framework::ShutdownReport::default());
    assert_eq!(handle.accounts().await, vec![AccountId::new(&b.bot_id)]);
    sim.user(&a, "u@im.wechat").say("anyone?").await;
    sim.user(&b, "u@im.wechat").say("hi again").await;
    sim.wait_for_sent_to(&b, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    assert!(
        sim.delivered_to(&a, "u@im.wechat").is_empty(),
        "removed account no longer answers"
    );
    handle.shutdown().await;
}

struct Mirror;

#[async_trait]
impl Handler for Mirror {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        if let Some(item) = msg.media_items().first() {
            let bytes = ctx.download(item).await?;
            ctx.reply(format!("got {} bytes", bytes.len())).await?;
            ctx.reply_media(MediaKind::File, bytes, "mirror.bin")
                .await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_downloaded_and_sent_back_byte_exact() {
    let sim = sim().await;
    let bot = sim.add_account("media");
    let handle = start(&sim, &bot, Mirror, fast_options()).await;
    let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    sim.user(&bot, "u@im.wechat").send_image(&payload).await;
    let sent = sim
        .wait_for_sent_to(&bot, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    assert_eq!(sent[0].text().unwrap(), "got 70000 bytes");
    let item = &sent[1].message.item_list[0];
    assert_eq!(sim.decrypt_media(item).unwrap(), payload);
    assert_eq!(
        item.file_item.as_ref().unwrap().file_name.as_deref(),
        Some("mirror.bin")
    );
    handle.shutdown().await;
}
