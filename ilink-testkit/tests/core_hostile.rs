//! `ilink-core`'s `ILinkClient` against the simulator's hostile answers over real HTTP:
//! a batch with malformed messages delivers its good ones and keeps the rest as
//! rejected, oversize answers and downloads fail with typed errors without being
//! buffered, and a trickled answer within the limits still decodes.

use ilink_core::config::DEFAULT_MAX_RESPONSE_BYTES;
use ilink_core::types::ItemType;
use ilink_core::{Endpoint, Error, ILinkClient};
use ilink_testkit::harness::{WAIT, core_client, core_client_builder, core_poll};
use ilink_testkit::{BotAccount, Fault, FaultAction, Simulator};

const GOOD: &str = r#"{"message_id":"7489534892789344264","from_user_id":"alice@im.wechat","context_token":"ctx-alice","message_type":1,"item_list":[{"type":1,"text_item":{"text":"hi"}}]}"#;
const CUT_EMOJI: &str = r#"{"message_id":2,"from_user_id":"alice@im.wechat","context_token":"ctx-alice-2","item_list":[{"type":1,"text_item":{"text":"cut \ud83d"}}]}"#;

/// Each malformed case of docs/protocol.md ("Malformed messages"), one per message.
const MALFORMED: [&str; 5] = [
    r#"{"message_id":"seven","from_user_id":"bob@im.wechat","context_token":"ctx-secret-1"}"#,
    r#"{"message_id":-3,"from_user_id":"bob@im.wechat"}"#,
    r#"{"message_id":4,"item_list":{"type":1,"text_item":{"text":"not a list"}}}"#,
    r#"{"message_id":5,"item_list":[{"type":1,"text_item":{"text":"x"}},null]}"#,
    r#"{"message_id":6,"create_time_ms":"yesterday","context_token":"ctx-secret-2"}"#,
];

fn limited(sim: &Simulator, bot: &BotAccount, api: u64, cdn: u64) -> ILinkClient {
    core_client_builder(sim, bot)
        .max_response_bytes(api)
        .max_download_bytes(cdn)
        .build()
        .unwrap()
}

#[tokio::test]
async fn malformed_messages_are_rejected_alone_and_the_good_ones_answered() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = core_client(&sim, &bot);
    let mut batch = vec![GOOD];
    batch.extend(MALFORMED);
    batch.push(CUT_EMOJI);
    sim.push_raw_batch(&bot, &format!("[{}]", batch.join(", ")));

    let resp = client.poll().await.unwrap();
    let texts: Vec<String> = resp.msgs.iter().filter_map(|m| m.text()).collect();
    assert_eq!(texts, ["hi", "cut \u{fffd}"]);
    assert_eq!(resp.msgs[0].message_id, Some(7_489_534_892_789_344_264));
    let indexes: Vec<usize> = resp.rejected.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5]);
    for (rejected, raw) in resp.rejected.iter().zip(MALFORMED) {
        assert_eq!(rejected.raw, raw);
        assert!(!rejected.error.is_empty());
    }
    let debug = format!("{resp:?}");
    for secret in ["ctx-secret-1", "ctx-secret-2", "ctx-alice"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    let cursor = client.cursor();
    assert_eq!(Some(cursor.as_str()), resp.cursor());
    assert!(!cursor.is_empty());

    // The good message can be answered, and polling goes on from the new cursor.
    let good = &resp.msgs[0];
    client
        .send_text("alice@im.wechat", "hello", good.context_token.as_ref())
        .await
        .unwrap();
    sim.wait_for_sent_to(&bot, "alice@im.wechat", 1, WAIT)
        .await
        .unwrap();
    sim.user(&bot, "carol@im.wechat").say("after").await;
    let next = core_poll(&client, 1).await;
    assert_eq!(next[0].text().as_deref(), Some("after"));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[tokio::test]
async fn a_msgs_that_is_not_an_array_fails_the_poll_and_keeps_the_cursor() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = core_client(&sim, &bot);
    sim.push_raw_batch(&bot, GOOD);
    let err = client.poll().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                endpoint: Endpoint::GetUpdates,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("ctx-alice"), "{err}");
    assert_eq!(client.cursor(), "");
}

#[tokio::test]
async fn oversize_answers_fail_with_body_too_large() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let limit = 64 * 1024;
    let client = limited(&sim, &bot, limit, limit);
    for chunked in [false, true] {
        let oversize = FaultAction::SizedBody {
            bytes: limit + 1,
            chunked,
        };
        sim.inject(Fault::on(Endpoint::GetUpdates, oversize.clone()));
        let err = client.poll().await.unwrap_err();
        assert!(
            matches!(err, Error::BodyTooLarge { endpoint: Endpoint::GetUpdates, limit: l } if l == limit),
            "{err}"
        );
        assert!(err.to_string().contains("max_response_bytes"), "{err}");
        assert_eq!(client.cursor(), "");

        sim.inject(Fault::on(Endpoint::NotifyStart, oversize));
        let err = client.notify_start().await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::BodyTooLarge {
                    endpoint: Endpoint::NotifyStart,
                    ..
                }
            ),
            "{err}"
        );

        // Exactly the limit is fine.
        sim.inject(Fault::on(
            Endpoint::NotifyStart,
            FaultAction::SizedBody {
                bytes: limit,
                chunked,
            },
        ));
        client.notify_start().await.unwrap();
    }
}

#[tokio::test]
async fn the_default_limit_holds_while_streaming() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = core_client(&sim, &bot);
    sim.inject(Fault::on(
        Endpoint::GetUpdates,
        FaultAction::SizedBody {
            bytes: DEFAULT_MAX_RESPONSE_BYTES + 1,
            chunked: true,
        },
    ));
    let err = client.poll().await.unwrap_err();
    assert!(
        matches!(err, Error::BodyTooLarge { limit, .. } if limit == DEFAULT_MAX_RESPONSE_BYTES),
        "{err}"
    );
}

#[tokio::test]
async fn oversize_downloads_fail_with_download_too_large() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = limited(&sim, &bot, DEFAULT_MAX_RESPONSE_BYTES, 1000);
    let picture = vec![7u8; 900];
    sim.user(&bot, "alice@im.wechat").send_image(&picture).await;
    let msgs = core_poll(&client, 1).await;
    let item = &msgs[0].item_list[0];
    assert_eq!(item.item_type, ItemType::Image);
    // 912 bytes of ciphertext: within the limit.
    assert_eq!(client.download_media(item).await.unwrap(), picture);

    for chunked in [false, true] {
        sim.inject(Fault::on(
            Endpoint::CdnDownload,
            FaultAction::SizedBody {
                bytes: 1001,
                chunked,
            },
        ));
        let err = client.download_media(item).await.unwrap_err();
        assert!(
            matches!(err, Error::DownloadTooLarge { limit: 1000 }),
            "{err}"
        );
        assert!(err.to_string().contains("max_download_bytes"), "{err}");
    }
}

#[tokio::test]
async fn trickled_answers_within_the_limits_still_decode() {
    let sim = Simulator::start().await;
    let bot = sim.add_account("bot-a");
    let client = limited(&sim, &bot, 4096, 4096);
    let alice = sim.user(&bot, "alice@im.wechat");
    let picture: Vec<u8> = (0..=255).collect();
    alice.send_image(&picture).await;
    let trickle = FaultAction::Trickle {
        chunk_bytes: 16,
        interval_ms: 2,
    };
    sim.inject(Fault::on(Endpoint::GetUpdates, trickle.clone()));
    let resp = client.poll().await.unwrap();
    assert_eq!(resp.msgs.len(), 1, "{:?}", resp.rejected);
    sim.inject(Fault::on(Endpoint::CdnDownload, trickle));
    let item = &resp.msgs[0].item_list[0];
    assert_eq!(client.download_media(item).await.unwrap(), picture);
}
