//! What each fuzz target checks, one function per target of `fuzz/`.
//!
//! Each function takes the fuzzer's bytes, runs them through the library
//! code under test and panics when an invariant is broken; the library code
//! itself must never panic. The fuzz targets are one-line wrappers around
//! these functions, and `tests/corpus.rs` replays the checked-in corpus
//! (`fuzz/corpus/<target>/`) through them, so an ordinary `cargo test` runs
//! every interesting input the fuzzer found without the fuzzer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use ilink_command_names as names;
use ilink_core::Outgoing;
use ilink_core::chunk::{self, text_units};
use ilink_core::crypto::{AesKey, ciphertext_size};
use ilink_core::endpoint::Endpoint;
use ilink_core::error::{BODY_EXCERPT_LEN, Error, body_excerpt};
use ilink_core::types::repair::{from_slice_lenient, repaired_text};
use ilink_core::types::{
    ApiStatus, GetUpdatesResponse, QrStatus, QrStatusResponse, SHAPE_LIMIT, WeixinMessage,
};
use ilink_framework::command::__private::{Route, Router};
use ilink_framework::command::{ArgSpec, Args, CommandSpec};
use serde_json::value::RawValue;
use unicode_segmentation::UnicodeSegmentation;

/// What a fuzz target checks of one input.
pub type Check = fn(&[u8]);

/// The fuzz targets by name, as `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/` call them.
pub const TARGETS: &[(&str, Check)] = &[
    ("getupdates", getupdates),
    ("command", command),
    ("split_text", split_text),
    ("crypto", crypto),
    ("qr_status", qr_status),
    ("sim_request", sim_request),
];

/// A `getupdates` answer: decoding never panics, each message of `msgs`
/// either decodes or is kept verbatim in `rejected`, and what is logged of a
/// rejected message stays bounded.
pub fn getupdates(data: &[u8]) {
    excerpt(data);
    each_message_on_its_own(data);
    let strict = serde_json::from_slice::<GetUpdatesResponse>(data);
    let Ok(batch) = from_slice_lenient::<GetUpdatesResponse>(data) else {
        assert!(
            strict.is_err(),
            "strict decoding accepts what lenient refuses"
        );
        return;
    };
    // Strict decoding refuses a message with an invalid escape where
    // lenient decoding repairs it; everything else decodes alike.
    if let Ok(strict) = strict {
        assert_eq!(
            (
                strict.ret,
                strict.errcode,
                strict.errmsg.clone(),
                strict.cursor()
            ),
            (
                batch.ret,
                batch.errcode,
                batch.errmsg.clone(),
                batch.cursor()
            )
        );
        let decoded = |b: &GetUpdatesResponse| b.msgs.len() + b.rejected.len();
        assert_eq!(decoded(&strict), decoded(&batch));
        let refused: Vec<usize> = strict.rejected.iter().map(|r| r.index).collect();
        assert!(batch.rejected.iter().all(|r| refused.contains(&r.index)));
    }
    // The text the messages were cut from: the body after repair.
    let text = repaired_text(data);
    // Raw, as the decoder cuts them: a number beyond f64 (`1e400`) is JSON
    // that a `Value` cannot hold, and a message holding one is rejected
    // whole, not the answer. The decoder also takes an answer written as an
    // array (serde reads a struct's fields in order, as the official
    // client's `JSON.parse(..).msgs` finds nothing there); its messages are
    // not counted here.
    let _: Box<RawValue> = serde_json::from_str(&text).expect("a decoded answer is JSON");
    let sent = serde_json::from_str::<HashMap<String, Box<RawValue>>>(&text)
        .ok()
        .map(|envelope| {
            envelope
                .get("msgs")
                .and_then(|m| serde_json::from_str::<Option<Vec<Box<RawValue>>>>(m.get()).ok())
                .flatten()
                .map_or(0, |m| m.len())
        });
    if let Some(sent) = sent {
        assert_eq!(batch.msgs.len() + batch.rejected.len(), sent);
        assert!(batch.rejected.iter().all(|r| r.index < sent));
    }
    let mut last = None;
    for rejected in &batch.rejected {
        assert!(last < Some(rejected.index));
        last = Some(rejected.index);
        assert!(text.contains(&rejected.raw), "raw is not from the input");
        let shape = rejected.shape();
        assert!(
            shape.len() <= SHAPE_LIMIT + '…'.len_utf8(),
            "{}",
            shape.len()
        );
        let _ = format!("{rejected:?}");
    }
    for msg in &batch.msgs {
        message(msg);
    }
    // Each message's own JSON, which the stores keep: cut from the input,
    // and read back as the very message decoded from it.
    assert_eq!(batch.msgs_json.len(), batch.msgs.len());
    for (msg, json) in batch.msgs.iter().zip(&batch.msgs_json) {
        assert!(
            text.contains(json.as_str()),
            "a message's JSON is not from the input"
        );
        let again: WeixinMessage =
            serde_json::from_str(json.as_str()).expect("a message's own JSON decodes");
        assert_eq!(&again, msg);
    }
    let _ = Error::from_status(
        Endpoint::GetUpdates,
        batch.ret(),
        batch.errcode(),
        batch.errmsg(),
    )
    .map(|e| e.to_string());
}

/// Whatever else is wrong with an answer, no message costs another: its
/// `msgs`, if the repaired body is JSON holding an array there, decodes as
/// an answer of its own, each element decoded or rejected. (The checks below
/// only see answers the decoder accepts, so a message that failed its whole
/// answer, such as one with a raw NUL byte in a string, went unnoticed.)
fn each_message_on_its_own(data: &[u8]) {
    let Ok(serde_json::Value::Object(envelope)) =
        serde_json::from_str::<serde_json::Value>(&repaired_text(data))
    else {
        return;
    };
    let Some(serde_json::Value::Array(msgs)) = envelope.get("msgs") else {
        return;
    };
    let alone = serde_json::json!({ "msgs": msgs }).to_string();
    let batch = from_slice_lenient::<GetUpdatesResponse>(alone.as_bytes())
        .expect("an array of messages decodes, each message on its own");
    assert_eq!(batch.msgs.len() + batch.rejected.len(), msgs.len());
}

/// A decoded message survives a round trip, and reading its text and media
/// keys never panics.
fn message(msg: &WeixinMessage) {
    let json = serde_json::to_string(msg).expect("a message serializes");
    let again: WeixinMessage = serde_json::from_str(&json).expect("a message decodes again");
    assert_eq!(&again, msg, "{json}");
    let _ = msg.text();
    for item in &msg.item_list {
        let _ = ilink_core::cdn::item_media(item);
    }
}

/// The excerpt a decoding error carries stays short, whatever the body.
fn excerpt(data: &[u8]) {
    let excerpt = body_excerpt(data);
    // The cut is at a character boundary at most BODY_EXCERPT_LEN bytes in,
    // then `…(N bytes)` follows.
    assert!(excerpt.len() <= BODY_EXCERPT_LEN + 40, "{}", excerpt.len());
}

/// The routers the command target matches texts against: the prefixes an
/// application may choose, and commands with every kind of argument.
fn routers() -> &'static [Router] {
    static ROUTERS: OnceLock<Vec<Router>> = OnceLock::new();
    ROUTERS.get_or_init(|| {
        ["/", "!", "", "ｃｍｄ "]
            .into_iter()
            .map(|prefix| {
                Router::builder(prefix)
                    .command(
                        CommandSpec::new("add")
                            .alias("plus")
                            .arg(ArgSpec::required("a", "i64"))
                            .arg(ArgSpec::required("b", "i64")),
                    )
                    .command(CommandSpec::new("echo").arg(ArgSpec::rest("text", "String")))
                    .command(
                        CommandSpec::new("say")
                            .arg(ArgSpec::required("to", "String"))
                            .arg(ArgSpec::optional_rest("text", "String")),
                    )
                    .command(
                        CommandSpec::new("Straße")
                            .alias("σ")
                            .arg(ArgSpec::optional("n", "u8"))
                            .arg(ArgSpec::optional("c", "char")),
                    )
                    .command(
                        CommandSpec::new("kinds")
                            .arg(ArgSpec::required("f", "f64"))
                            .arg(ArgSpec::required("b", "bool"))
                            .arg(ArgSpec::optional("ip", "IpAddr")),
                    )
                    .command(CommandSpec::new("ping"))
                    .build()
                    .expect("the fuzzed commands are valid")
            })
            .collect()
    })
}

/// A message text through command matching, the lexer, argument parsing
/// and `/help`, and through the name folding of `ilink-command-names`.
pub fn command(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for router in routers() {
        match router.route(&text) {
            Route::NotACommand => {}
            Route::Reply(reply) => assert!(!reply.is_empty()),
            Route::Error(e) => {
                let _ = (e.to_string(), e.user_message());
            }
            Route::ArgsError { index, error } => {
                assert!(router.spec(index).is_some());
                let _ = (error.to_string(), error.user_message());
            }
            Route::Command { index, args } => {
                assert!(router.spec(index).is_some());
                arguments(&text, &args);
            }
        }
        let _ = router.set().get(&text);
    }
    name_folding(&text);
}

/// Converts every argument as the generated glue would.
fn arguments(text: &str, args: &Args<'_, '_>) {
    for (i, spec) in args.spec().args.iter().enumerate() {
        if spec.kind.is_rest() {
            let rest = args.raw(i).unwrap_or_default();
            assert!(text.contains(rest), "a rest argument is verbatim");
        }
        let result = match spec.type_name.as_str() {
            "i64" => args.get_opt::<i64>(i).map(drop),
            "u8" => args.get_opt::<u8>(i).map(drop),
            "char" => args.get_opt::<char>(i).map(drop),
            "f64" => args.get_opt::<f64>(i).map(drop),
            "bool" => args.get_opt::<bool>(i).map(drop),
            "IpAddr" => args.get_opt::<IpAddr>(i).map(drop),
            _ => args.get_opt::<String>(i).map(drop),
        };
        if let Err(e) = result {
            let _ = (e.to_string(), e.user_message());
        }
    }
    let _ = args.usage();
}

/// The name folding invariants: a key is its own key, a valid name has a
/// key without whitespace, and splitting and prefix stripping only cut.
fn name_folding(text: &str) {
    let key = names::name_key(text);
    assert_eq!(names::name_key(&key), key, "folding is not idempotent");
    let (word, rest) = names::split_word(text);
    assert_eq!(word.len() + rest.len(), text.len());
    assert!(!word.chars().any(names::is_separator));
    assert!(rest.is_empty() || rest.starts_with(names::is_separator));
    if names::is_valid_name(word) {
        assert!(!names::name_key(word).chars().any(names::is_separator));
    }
    // The fuzzer's own prefix: what comes before the first line break.
    let (prefix, after) = text.split_once('\n').unwrap_or(("/", text));
    for prefix in [prefix, "/", "！"] {
        if let Some(rest) = names::strip_prefix(after, prefix) {
            assert!(after.ends_with(rest));
        }
    }
}

/// `split_text` and `Outgoing::text_chunks_within` keep their guarantees.
///
/// The first byte is the limit in UTF-16 units, the second the number of
/// messages allowed; the rest is the text, then after a NUL the note.
pub fn split_text(data: &[u8]) {
    let [units, messages, rest @ ..] = data else {
        return;
    };
    let max_units = usize::from(*units);
    let max_messages = usize::from(messages % 8);
    let rest = String::from_utf8_lossy(rest);
    let (text, note) = rest.split_once('\0').unwrap_or((&rest, "…"));
    let parts = chunk::split_text(text, max_units);
    chunks(text, &parts, max_units.max(1));
    within(text, &parts, max_units, max_messages, note);
}

/// The guarantees `split_text` documents.
fn chunks(text: &str, parts: &[&str], max: usize) {
    assert_eq!(parts.concat(), text);
    assert!(parts.iter().all(|p| !p.is_empty()), "an empty chunk");
    for part in parts {
        // Only a single character too wide for the limit may exceed it.
        assert!(
            text_units(part) <= max || part.chars().count() == 1,
            "{} units over {max}: {part:?}",
            text_units(part)
        );
    }
    // A cut inside a grapheme cluster only splits a cluster too long for the
    // limit on its own.
    let mut cut = 0;
    for part in &parts[..parts.len().saturating_sub(1)] {
        cut += part.len();
        let inside = text
            .grapheme_indices(true)
            .find(|(start, g)| *start < cut && cut < start + g.len());
        if let Some((_, grapheme)) = inside {
            assert!(text_units(grapheme) > max, "cut inside {grapheme:?}");
        }
    }
}

/// The guarantees of `Outgoing::text_chunks_within`.
fn within(text: &str, all: &[&str], max_units: usize, max_messages: usize, note: &str) {
    let (kept, cut) = Outgoing::text_chunks_within(text, max_units, max_messages, note);
    let texts: Vec<&str> = kept
        .iter()
        .map(|o| o.text().expect("a text message"))
        .collect();
    assert_eq!(cut, all.len() > max_messages);
    if !cut {
        assert_eq!(texts, all);
        return;
    }
    assert!(texts.len() <= max_messages);
    let Some((end, head)) = texts.split_last() else {
        return;
    };
    assert_eq!(head, &all[..head.len()]);
    let max = max_units.max(1);
    if text_units(note) < max {
        let body = end
            .strip_suffix(note)
            .expect("the last message ends with the note");
        assert!(all[head.len()].starts_with(body));
        assert!(
            text_units(end) <= max,
            "{} units over {max}",
            text_units(end)
        );
    } else {
        assert_eq!(*end, all[head.len()]);
    }
}

/// Key decoding and AES-ECB decryption of arbitrary bytes: errors, never
/// panics, and what they accept round-trips.
pub fn crypto(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(key) = AesKey::from_media_key(&text) {
        assert_eq!(AesKey::from_media_key(&key.to_media_key()).ok(), Some(key));
        assert_eq!(AesKey::from_media_key(&key.to_raw_base64()).ok(), Some(key));
    }
    if let Ok(key) = AesKey::from_hex(&text) {
        assert_eq!(key.to_hex(), text.trim().to_ascii_lowercase());
    }
    if let Some((key, ciphertext)) = data.split_first_chunk::<16>() {
        let key = AesKey::from_bytes(*key);
        if let Ok(plaintext) = key.decrypt(ciphertext) {
            // PKCS#7 padding is canonical: the same plaintext seals the same way.
            assert_eq!(key.encrypt(&plaintext), ciphertext);
        }
    }
    if let Some((size, _)) = data.split_first_chunk::<8>() {
        let rawsize = u64::from_le_bytes(*size);
        match ciphertext_size(rawsize) {
            Some(sealed) => assert!(sealed > rawsize && sealed % 16 == 0),
            None => assert!(rawsize > u64::MAX - 16),
        }
    }
}

/// A `get_qrcode_status` answer: decoding never panics, the status keeps
/// the server's spelling, and the answer round-trips.
pub fn qr_status(data: &[u8]) {
    excerpt(data);
    let Ok(answer) = from_slice_lenient::<QrStatusResponse>(data) else {
        return;
    };
    let spelled = answer.status.as_str();
    assert_eq!(QrStatus::parse(spelled), answer.status);
    let json = serde_json::to_string(&answer).expect("an answer serializes");
    let again: QrStatusResponse = serde_json::from_str(&json).expect("an answer decodes again");
    assert_eq!(again, answer, "{json}");
    let _ = Error::from_status(
        Endpoint::GetQrcodeStatus,
        answer.ret(),
        answer.errcode(),
        answer.errmsg(),
    )
    .map(|e| e.to_string());
}

/// The simulator's decoding of a bot's request body.
pub fn sim_request(data: &[u8]) {
    ilink_testkit::__fuzz::decode_all(data);
}
