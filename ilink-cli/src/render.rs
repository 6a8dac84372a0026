//! What `ilink` shows: the login QR code in the terminal, human lines for
//! login statuses, durations and messages, and the JSON shapes of `--json`.
//!
//! Nothing here ever formats a secret's value: tokens go through
//! [`ilink_core::Secret::redacted`], and context tokens are only ever
//! reported as present or absent.

use std::time::Duration;

use ilink_core::types::{ItemType, MessageItem, QrStatus, WeixinMessage};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use serde_json::{Value, json};

/// How the QR code is drawn, depending on the terminal's colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QrStyle {
    /// Light text on a dark background (most terminals): light modules are
    /// drawn as blocks, so the code reads dark-on-light to a camera.
    DarkTerminal,
    /// Dark text on a light background: dark modules are drawn as blocks.
    LightTerminal,
}

/// Renders `content` as a QR code with Unicode half blocks (two modules per
/// character cell, so the code stays square in a terminal), quiet zone included.
pub fn render_qr(content: &str, style: QrStyle) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::new(content.as_bytes())?;
    let (dark, light) = match style {
        QrStyle::DarkTerminal => (Dense1x2::Light, Dense1x2::Dark),
        QrStyle::LightTerminal => (Dense1x2::Dark, Dense1x2::Light),
    };
    Ok(code
        .render::<Dense1x2>()
        .dark_color(dark)
        .light_color(light)
        .quiet_zone(true)
        .build())
}

/// A human line for each login status of [`docs/protocol.md`](https://github.com/ilink-rs/ilink-rs/blob/main/docs/protocol.md#qr-login).
pub fn status_line(status: &QrStatus) -> String {
    match status {
        QrStatus::Wait => "waiting for the QR code to be scanned…".into(),
        QrStatus::Scanned => "scanned: confirm the login on the phone".into(),
        QrStatus::NeedVerifyCode => "the phone shows a number: type it in to continue".into(),
        QrStatus::VerifyCodeBlocked => {
            "too many wrong numbers: this QR code is blocked, fetching a new one".into()
        }
        QrStatus::Expired => "the QR code expired: fetching a new one".into(),
        QrStatus::ScannedButRedirect => {
            "scanned: the server moved the login to another host, following it".into()
        }
        QrStatus::BindedRedirect => {
            "this bot is already bound to this client: the stored credentials stay in use".into()
        }
        QrStatus::Confirmed => "confirmed on the phone".into(),
        QrStatus::Unknown(other) => {
            format!("status {other:?} (unknown to this client; still waiting)")
        }
    }
}

/// A short duration for people: `45s`, `3m 05s`, `2h 03m`, `1d 04h`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// One line describing an item: its kind and what can be shown of it.
pub fn item_summary(item: &MessageItem) -> String {
    match item.item_type {
        ItemType::Text => item
            .text_item
            .as_ref()
            .and_then(|t| t.text.clone())
            .unwrap_or_default(),
        ItemType::Image => {
            let size = item
                .image_item
                .as_ref()
                .and_then(|i| i.mid_size.or(i.hd_size));
            format!(
                "[image{}]",
                size.map(|s| format!(", {}", bytes(s))).unwrap_or_default()
            )
        }
        ItemType::Voice => {
            let v = item.voice_item.as_ref();
            let len = v
                .and_then(|v| v.playtime)
                .map(|ms| format!(", {:.1}s", ms as f64 / 1000.0))
                .unwrap_or_default();
            let said = v
                .and_then(|v| v.text.as_deref())
                .map(|t| format!(": {t}"))
                .unwrap_or_default();
            format!("[voice{len}]{said}")
        }
        ItemType::File => {
            let f = item.file_item.as_ref();
            let name = f.and_then(|f| f.file_name.as_deref()).unwrap_or("unnamed");
            let len = f
                .and_then(|f| f.len.as_deref())
                .and_then(|l| l.parse::<u64>().ok())
                .map(|l| format!(", {}", bytes(l)))
                .unwrap_or_default();
            format!("[file {name}{len}]")
        }
        ItemType::Video => {
            let v = item.video_item.as_ref();
            let len = v
                .and_then(|v| v.play_length)
                .map(|s| format!(", {s}s"))
                .unwrap_or_default();
            let size = v
                .and_then(|v| v.video_size)
                .map(|s| format!(", {}", bytes(s)))
                .unwrap_or_default();
            format!("[video{len}{size}]")
        }
        ItemType::ToolCallStart => {
            let name = item
                .tool_call_start_item
                .as_ref()
                .and_then(|t| t.tool_name.as_deref());
            format!("[tool call {}]", name.unwrap_or("?"))
        }
        ItemType::ToolCallResult => {
            let name = item
                .tool_call_result_item
                .as_ref()
                .and_then(|t| t.tool_name.as_deref());
            format!("[tool result {}]", name.unwrap_or("?"))
        }
        other => format!("[item type {}]", other.code()),
    }
}

/// The name of an item's kind, as `--json` reports it.
pub fn item_kind(item: &MessageItem) -> String {
    match item.item_type {
        ItemType::Text => "text".into(),
        ItemType::Image => "image".into(),
        ItemType::Voice => "voice".into(),
        ItemType::File => "file".into(),
        ItemType::Video => "video".into(),
        ItemType::ToolCallStart => "tool_call_start".into(),
        ItemType::ToolCallResult => "tool_call_result".into(),
        other => format!("type_{}", other.code()),
    }
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// One human line for an inbound message: `from <user> [in <group>]: <items>`.
pub fn message_line(msg: &WeixinMessage) -> String {
    let from = msg.from_user_id.as_deref().unwrap_or("?");
    let group = msg
        .group_id
        .as_deref()
        .filter(|g| !g.is_empty())
        .map(|g| format!(" in {g}"))
        .unwrap_or_default();
    let body = if msg.item_list.is_empty() {
        "[no items]".to_owned()
    } else {
        msg.item_list
            .iter()
            .map(item_summary)
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("{from}{group}: {body}")
}

/// The `--json` object of an inbound message; the context token is only
/// reported as present, since it is a secret.
pub fn message_json(account: &str, msg: &WeixinMessage) -> Value {
    let items: Vec<Value> = msg
        .item_list
        .iter()
        .map(|item| {
            let mut v = json!({ "type": item_kind(item), "summary": item_summary(item) });
            if let Some(text) = item.text_item.as_ref().and_then(|t| t.text.as_deref()) {
                v["text"] = text.into();
            }
            if let Some(name) = item.file_item.as_ref().and_then(|f| f.file_name.as_deref()) {
                v["file_name"] = name.into();
            }
            if let Some(said) = item.voice_item.as_ref().and_then(|t| t.text.as_deref()) {
                v["voice_text"] = said.into();
            }
            v
        })
        .collect();
    json!({
        "account": account,
        "from": msg.from_user_id,
        "to": msg.to_user_id,
        "group_id": msg.group_id.as_deref().filter(|g| !g.is_empty()),
        // As a string: u64 ids exceed what JSON readers hold exactly.
        "message_id": msg.message_id.map(|id| id.to_string()),
        "create_time_ms": msg.create_time_ms,
        "text": msg.text(),
        "items": items,
        "has_context_token": msg.context_token.as_ref().is_some_and(|t| !t.is_empty()),
    })
}

/// Prints one JSON value on its own line of stdout.
pub fn print_json(value: &Value) {
    print_line(value);
}

/// Writes `text` and a newline to stdout (see [`print_text`]).
pub fn print_line(text: impl std::fmt::Display) {
    print_text(format_args!("{text}\n"));
}

/// Writes `text` to stdout and flushes it. A closed stdout (its reader went
/// away, as in `ilink tail | head -3`) ends the command quietly with status
/// 0, as it ends any Unix filter; another write error (a redirect to a full
/// disk) ends it with status 1 and says so. `print!` would panic on both.
pub fn print_text(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let Err(e) = write!(out, "{text}").and_then(|()| out.flush()) else {
        return;
    };
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to stdout: {e}");
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use ilink_core::Secret;
    use ilink_core::types::FileItem;

    use super::*;

    #[test]
    fn qr_uses_half_blocks_and_a_quiet_zone() {
        let dark = render_qr("https://example.invalid/qr?x=1", QrStyle::DarkTerminal).unwrap();
        let lines: Vec<&str> = dark.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // Two modules per cell vertically: about half as many lines as columns.
        assert!(
            lines.len() * 2 >= width && lines.len() * 2 <= width + 2,
            "{width}x{}",
            lines.len()
        );
        assert!(
            dark.chars()
                .all(|c| matches!(c, ' ' | '▀' | '▄' | '█' | '\n'))
        );
        // The quiet zone is light, so on a dark terminal it is drawn solid.
        assert!(lines[0].chars().all(|c| c == '█'), "{}", lines[0]);
        let light = render_qr("https://example.invalid/qr?x=1", QrStyle::LightTerminal).unwrap();
        assert!(light.lines().next().unwrap().chars().all(|c| c == ' '));
        assert_eq!(light.lines().count(), lines.len());
    }

    #[test]
    fn every_login_status_has_its_own_line() {
        let all = [
            QrStatus::Wait,
            QrStatus::Scanned,
            QrStatus::NeedVerifyCode,
            QrStatus::VerifyCodeBlocked,
            QrStatus::Expired,
            QrStatus::ScannedButRedirect,
            QrStatus::BindedRedirect,
            QrStatus::Confirmed,
            QrStatus::Unknown("new_status".into()),
        ];
        let lines: std::collections::HashSet<String> = all.iter().map(status_line).collect();
        assert_eq!(lines.len(), all.len());
        assert!(status_line(&QrStatus::Unknown("x".into())).contains("\"x\""));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(
            human_duration(Duration::from_secs(2 * 3600 + 180)),
            "2h 03m"
        );
        assert_eq!(
            human_duration(Duration::from_secs(86_400 + 4 * 3600)),
            "1d 04h"
        );
    }

    #[test]
    fn messages_summarize_media_and_hide_the_context_token() {
        let mut msg = WeixinMessage {
            from_user_id: Some("u@im.wechat".into()),
            message_id: Some(u64::MAX),
            context_token: Some(Secret::new("ctx-SECRET-value-0123456789")),
            ..WeixinMessage::default()
        };
        msg.item_list.push(MessageItem::text("hello"));
        msg.item_list.push(MessageItem::file(FileItem {
            file_name: Some("a.pdf".into()),
            len: Some("2048".into()),
            ..FileItem::default()
        }));
        assert_eq!(
            message_line(&msg),
            "u@im.wechat: hello [file a.pdf, 2.0 KiB]"
        );
        let v = message_json("bot@im.bot", &msg);
        assert_eq!(v["message_id"], u64::MAX.to_string());
        assert_eq!(v["items"][1]["type"], "file");
        assert_eq!(v["has_context_token"], true);
        assert!(!v.to_string().contains("SECRET"));
    }
}
