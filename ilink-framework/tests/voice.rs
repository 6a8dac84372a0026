//! Voice notes end to end (the `voice` feature): a SILK note sent the WeChat
//! way by a simulated user is downloaded, decoded and sent back as WAV.

#![cfg(feature = "voice")]

mod common;

use std::io::Cursor;
use std::time::Duration;

use common::*;
use ilink_framework::prelude::*;

const RATE: u32 = 24_000;

/// One second of a 440 Hz tone at `RATE`, encoded to SILK by the codec the
/// framework decodes with, with WeChat's `0x02` before `#!SILK_V3`.
fn wechat_tone() -> Vec<u8> {
    let pcm: Vec<u8> = (0..RATE)
        .flat_map(|i| {
            let t = f64::from(i) / f64::from(RATE);
            let sample = (t * 440.0 * std::f64::consts::TAU).sin() * 10_000.0;
            (sample as i16).to_le_bytes()
        })
        .collect();
    let silk = silk_codec::encode_silk(pcm, RATE as i32, 24_000, false).unwrap();
    [&[0x02][..], &silk].concat()
}

/// Replies with the transcript, then the voice note as WAV.
struct Transcoder;

#[async_trait]
impl Handler for Transcoder {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        let Some(item) = msg.voice_item() else {
            ctx.reply("no voice").await?;
            return Ok(());
        };
        ctx.reply(format!("heard: {}", msg.voice_text().unwrap_or("?")))
            .await?;
        match ctx.download_voice_wav(item).await {
            Ok(wav) => {
                ctx.reply_media(MediaKind::File, wav, "voice.wav").await?;
            }
            Err(e) => {
                ctx.reply(format!("voice error: {e}")).await?;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_voice_note_is_decoded_to_wav() {
    let sim = sim().await;
    let bot = sim.add_account("voice");
    let handle = start(&sim, &bot, Transcoder, fast_options()).await;
    sim.user(&bot, "u@im.wechat")
        .send_voice(&wechat_tone(), Some("a long beep"))
        .await;
    let sent = sim
        .wait_for_sent_to(&bot, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    assert_eq!(sent[0].text().unwrap(), "heard: a long beep");
    let wav = sim.decrypt_media(&sent[1].message.item_list[0]).unwrap();
    let reader = hound::WavReader::new(Cursor::new(wav)).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, RATE));
    assert_eq!(spec.bits_per_sample, 16);
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    let duration = Duration::from_secs_f64(samples.len() as f64 / f64::from(spec.sample_rate));
    let frame = Duration::from_millis(20);
    assert!(
        duration.abs_diff(Duration::from_secs(1)) <= frame,
        "1 s within a frame, got {duration:?}"
    );
    let mean_square =
        samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64;
    assert!(
        mean_square.sqrt() > 1000.0,
        "the tone is heard, RMS {}",
        mean_square.sqrt()
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_voice_note_is_an_error_not_a_panic() {
    let sim = sim().await;
    let bot = sim.add_account("voice");
    let handle = start(&sim, &bot, Transcoder, fast_options()).await;
    let tone = wechat_tone();
    let cut = &tone[..tone.len() - 5];
    sim.user(&bot, "u@im.wechat").send_voice(cut, None).await;
    let sent = sim
        .wait_for_sent_to(&bot, "u@im.wechat", 2, WAIT)
        .await
        .unwrap();
    assert_eq!(sent[0].text().unwrap(), "heard: ?");
    let error = sent[1].text().unwrap();
    assert!(
        error.starts_with("voice error: SILK audio truncated"),
        "{error}"
    );
    handle.shutdown().await;
}
