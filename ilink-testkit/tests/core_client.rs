//! `ilink-core`'s `ILinkClient` against the simulator over real HTTP: text, chunked
//! text, typing, `-14` in each shape, the send quota, duplicate `client_id`s, and the
//! long-poll rules (a client-side timeout is an empty batch; `longpolling_timeout_ms`
//! is honoured). Media is in `core_media.rs`, QR login in `core_login.rs`.

mod common;

use std::time::Duration;

use common::{Chat, alice_wrote};
use ilink_core::types::MessageItem;
use ilink_core::{ApiCode, Endpoint, Error, ILinkClient};
use ilink_testkit::harness::{WAIT, core_client, core_poll};
use ilink_testkit::{ExpiryMode, Fault, FaultAction, SendOutcome, SimConfig, Simulator};

#[tokio::test]
async fn text_round_trip_echoes_the_context_token() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = core_client(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    let hi = alice.say("hi").await;

    let msgs = core_poll(&client, 1).await;
    assert_eq!(msgs[0].message_id, hi.message_id);
    assert_eq!(msgs[0].text().as_deref(), Some("hi"));
    let ctx = msgs[0].context_token.as_ref();
    let sent = client
        .send_text("alice@im.wechat", "hello", ctx)
        .await
        .unwrap();
    assert!(sent.message_id.is_some());

    let got = sim
        .wait_for_sent_to(&bot, alice.id(), 1, WAIT)
        .await
        .unwrap();
    assert_eq!(got[0].text().as_deref(), Some("hello"));
    assert_eq!(got[0].context_token.as_ref(), ctx);
    assert_eq!(got[0].message_id(), sent.message_id);
    assert_eq!(got[0].client_id.as_deref(), Some(sent.client_id.as_str()));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_9000_character_text_arrives_as_three_messages_in_order() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = core_client(&sim, &bot);
    let alice = sim.user(&bot, "alice@im.wechat");
    alice.say("tell me a long story").await;
    let msgs = core_poll(&client, 1).await;

    // Distinct words, so a reordering or a lost piece would show in the concatenation.
    let text: String = (0..)
        .map(|n| format!("w{n:05} "))
        .take(1300)
        .collect::<String>()
        .chars()
        .take(9000)
        .collect();
    assert_eq!(text.chars().count(), 9000);
    let n = client
        .send_text_chunked(
            "alice@im.wechat",
            &text,
            msgs[0].context_token.as_ref(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(n, 3);

    let sent = sim
        .wait_for_sent_to(&bot, alice.id(), 3, WAIT)
        .await
        .unwrap();
    assert_eq!(sent.len(), 3);
    let parts: Vec<String> = sent.iter().map(|s| s.text().unwrap()).collect();
    assert!(parts.iter().all(|p| p.chars().count() <= 4000));
    assert_eq!(parts.concat(), text);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn typing_fetches_the_ticket_once_and_is_cancelled() {
    let sim = Simulator::start().await;
    let Chat { client, first, .. } = alice_wrote(&sim, "hi").await;
    let ctx = first.context_token.as_ref();

    client.send_typing("alice@im.wechat", ctx).await.unwrap();
    client.send_typing("alice@im.wechat", ctx).await.unwrap();
    client.cancel_typing("alice@im.wechat").await.unwrap();

    let configs = sim.config_calls();
    assert_eq!(configs.len(), 1, "the ticket is cached: {configs:?}");
    assert_eq!(configs[0].user_id, "alice@im.wechat");
    assert_eq!(configs[0].ret, 0);
    assert_eq!(configs[0].context_token.as_ref(), ctx);
    let typing = sim.typing_events();
    let statuses: Vec<i64> = typing.iter().map(|t| t.status).collect();
    assert_eq!(statuses, [1, 1, 2]);
    assert!(
        typing.iter().all(|t| t.ticket_ok && t.ret == 0),
        "{typing:?}"
    );
    assert!(typing.iter().all(|t| t.user_id == "alice@im.wechat"));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn minus_14_in_ret_errcode_or_both_is_session_expired() {
    let sim = Simulator::start().await;
    let Chat {
        bot, client, first, ..
    } = alice_wrote(&sim, "hi").await;
    let ctx = first.context_token.as_ref();

    for mode in [ExpiryMode::Ret, ExpiryMode::Errcode, ExpiryMode::Both] {
        sim.expire_session(&bot, mode);
        let err = client
            .send_text("alice@im.wechat", "x", ctx)
            .await
            .unwrap_err();
        assert!(err.is_session_expired(), "{mode:?}: {err:?}");
        let Error::SessionExpired { ret, errcode, .. } = err else {
            unreachable!()
        };
        match mode {
            ExpiryMode::Ret => assert_eq!((ret, errcode), (-14, None)),
            ExpiryMode::Errcode => assert_eq!((ret, errcode), (0, Some(-14))),
            ExpiryMode::Both => assert_eq!((ret, errcode), (-14, Some(-14))),
        }
        let err = client.poll().await.unwrap_err();
        assert!(err.is_session_expired(), "{mode:?}: {err:?}");
        let err = client.notify_start().await.unwrap_err();
        assert!(err.is_session_expired(), "{mode:?}: {err:?}");
    }

    // Injected as a fault rather than as a session state, the shapes read the same.
    sim.clear_session_expiry(&bot);
    sim.inject(Fault::on(
        Endpoint::GetConfig,
        FaultAction::Api {
            ret: None,
            errcode: Some(-14),
            errmsg: Some("session timeout".into()),
        },
    ));
    let err = client.get_config("alice@im.wechat", ctx).await.unwrap_err();
    assert!(err.is_session_expired(), "{err:?}");
    client.notify_start().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn the_eleventh_send_is_rejected_by_the_server() {
    let sim = Simulator::start().await;
    let Chat {
        bot,
        client,
        alice,
        first,
    } = alice_wrote(&sim, "hi").await;
    let ctx = first.context_token.as_ref();

    for n in 1..=10 {
        let sent = client
            .send_text("alice@im.wechat", &format!("reply {n}"), ctx)
            .await
            .unwrap();
        assert!(sent.message_id.is_some());
    }
    let err = client
        .send_text("alice@im.wechat", "one too many", ctx)
        .await
        .unwrap_err();
    let api = err.api().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(api.code(), ApiCode::Rejected);
    assert_eq!(api.endpoint, Endpoint::SendMessage);
    assert!(matches!(
        sim.sent(&bot).last().unwrap().outcome,
        SendOutcome::Rejected { ret: -2, .. }
    ));

    // A new message from the user opens a fresh quota.
    alice.say("more please").await;
    let msgs = core_poll(&client, 1).await;
    client
        .send_text("alice@im.wechat", "here", msgs[0].context_token.as_ref())
        .await
        .unwrap();
    assert_eq!(sim.delivered_to(&bot, alice.id()).len(), 11);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_client_id_twice_is_delivered_once() {
    let sim = Simulator::start().await;
    let Chat {
        bot,
        client,
        alice,
        first,
    } = alice_wrote(&sim, "hi").await;
    let ctx = first.context_token.as_ref();

    let first = client
        .send_item(
            "alice@im.wechat",
            MessageItem::text("once"),
            ctx,
            Some("retry-me".into()),
        )
        .await
        .unwrap();
    let second = client
        .send_item(
            "alice@im.wechat",
            MessageItem::text("once"),
            ctx,
            Some(first.client_id.clone()),
        )
        .await
        .unwrap();
    assert!(first.message_id.is_some());
    assert_eq!(second.message_id, None);
    assert_eq!(second.client_id, "retry-me");

    let sent = sim.sent(&bot);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].outcome, SendOutcome::Duplicate);
    assert_eq!(sim.delivered_to(&bot, alice.id()).len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_client_side_long_poll_timeout_is_an_empty_batch_with_the_old_cursor() {
    // The server holds long-polls for a minute; the client gives up much earlier.
    let sim = Simulator::start_with(SimConfig {
        longpoll_timeout: Duration::from_secs(60),
        ..SimConfig::for_tests()
    })
    .await
    .unwrap();
    let bot = sim.add_account("bot-a");
    let client = ILinkClient::builder(sim.base_url(), bot.token.clone())
        .cdn_base_url(sim.cdn_base_url())
        .long_poll_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    client.set_cursor("cursor-before");

    let batch = tokio::time::timeout(WAIT, client.poll())
        .await
        .unwrap()
        .unwrap();
    assert!(batch.msgs.is_empty());
    assert_eq!(batch.cursor(), Some("cursor-before"));
    assert_eq!(client.cursor(), "cursor-before");
    let polls = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::GetUpdates))
        .count();
    assert_eq!(polls, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn longpolling_timeout_ms_from_the_server_is_the_next_poll_timeout() {
    // The server announces 300 ms; the client starts with the default 35 s. A hung
    // poll can then only end in time if the announced timeout was honoured.
    let sim = Simulator::start_with(SimConfig {
        longpoll_timeout: Duration::from_millis(300),
        ..SimConfig::for_tests()
    })
    .await
    .unwrap();
    let bot = sim.add_account("bot-a");
    let client = core_client(&sim, &bot);
    sim.user(&bot, "alice@im.wechat").say("hi").await;
    let first = client.poll().await.unwrap();
    assert_eq!(first.msgs.len(), 1);
    assert_eq!(first.longpolling_timeout_ms, Some(300));
    let cursor = client.cursor();
    assert!(!cursor.is_empty());

    sim.inject(Fault::on(Endpoint::GetUpdates, FaultAction::Hang));
    let batch = tokio::time::timeout(WAIT, client.poll())
        .await
        .expect("the poll should end after the server's longpolling_timeout_ms")
        .unwrap();
    assert!(batch.msgs.is_empty());
    assert_eq!(client.cursor(), cursor);
    sim.shutdown().await;
}
