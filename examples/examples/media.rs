//! Media: receives images, files and voice messages, and replies with an
//! image and a file.
//!
//! ```sh
//! cargo run --example media
//! ```
//!
//! Media travel AES-encrypted through WeChat's CDN; `ctx.download(item)`
//! fetches and decrypts, `ctx.reply_media` / `ctx.reply_file` encrypt and
//! upload. Received files are saved under a directory of the system's
//! temporary directory.

use std::path::{Path, PathBuf};

use ilink_examples::outln;
use ilink_examples::playground::Script;
use ilink_examples::{ExampleError, TINY_PNG, Target};
use ilink_framework::prelude::*;

/// Describes what it receives and saves files under `dir`.
pub struct MediaBot {
    /// Where received files are saved.
    pub dir: PathBuf,
}

#[async_trait]
impl Handler for MediaBot {
    async fn handle(&self, ctx: &mut Context, msg: Message) -> HandlerResult {
        if msg.text().map(str::trim) == Some("/send") {
            ctx.reply_media(MediaKind::Image, TINY_PNG.to_vec(), "pixel.png")
                .await?;
            let notes = self.dir.join("notes.txt");
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(&notes, "Files are sent as attachments.\n").await?;
            ctx.reply_file(&notes).await?;
            return Ok(());
        }

        let mut seen = Vec::new();
        for item in msg.media_items() {
            let bytes = ctx.download(item).await?;
            let line = if let Some(file) = &item.file_item {
                let name = file.file_name.as_deref().unwrap_or("file");
                let path = save(&self.dir, name, &bytes).await?;
                format!(
                    "file {name} ({} bytes), saved as {}",
                    bytes.len(),
                    path.display()
                )
            } else if item.voice_item.is_some() {
                let said = msg.voice_text().unwrap_or("(no transcript)");
                format!("voice message ({} bytes) saying \"{said}\"", bytes.len())
            } else if item.image_item.is_some() {
                format!("image ({} bytes)", bytes.len())
            } else {
                format!("video ({} bytes)", bytes.len())
            };
            outln!("  received from {}: {line}", msg.sender());
            seen.push(line);
        }
        let reply = if seen.is_empty() {
            "Send me an image, a file or a voice message; /send gets you an image and a file."
                .to_owned()
        } else {
            format!("Got {}.", seen.join(", "))
        };
        ctx.reply(reply).await?;
        Ok(())
    }
}

/// Writes `bytes` as `name` under `dir`, keeping only the file name part so
/// a name like `../../x` cannot escape the directory.
async fn save(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let name = Path::new(name)
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_else(|| "file".into());
    tokio::fs::create_dir_all(dir).await?;
    let path = dir.join(name);
    tokio::fs::write(&path, bytes).await?;
    Ok(path)
}

/// An image, a file and a voice message, then a request for media back.
pub fn script() -> Script {
    Script::new()
        .image("alice@im.wechat", TINY_PNG, 1)
        .file("alice@im.wechat", "report.txt", b"quarterly numbers\n", 1)
        .voice("alice@im.wechat", &[0u8; 320], "see you at noon", 1)
        .say("alice@im.wechat", "/send", 2)
}

#[tokio::main]
async fn main() -> Result<(), ExampleError> {
    let dir = std::env::temp_dir().join("ilink-media-example");
    outln!("Received files are saved under {}", dir.display());
    // A real bot runs `Bot::from_env(bot)`; here the settings come from the
    // same place, or from the embedded simulator when nothing is configured.
    let target = Target::from_env(&["demo"]).await?;
    target.play(script());
    Bot::builder(MediaBot { dir })
        .settings(target.settings())
        .build()?
        .run() // until ctrl-c: drain, flush, notifystop
        .await?;
    target.stop().await;
    Ok(())
}
