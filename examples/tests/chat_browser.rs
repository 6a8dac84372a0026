//! The simulator's chat page in a real browser: the README's demo bot runs
//! (embedded simulator, no credentials) and headless Chromium opens its
//! `/chat`, writes as a person would (the Send button, the Enter key, an
//! attached image), sees the bot's replies arrive by the page's polling,
//! creates a second bot with "+ bot", switches between the two, and logs no
//! console error. Skipped, saying why, where Chromium or chromedriver is
//! missing.

#![cfg(unix)]

#[path = "common/browser.rs"]
mod browser;
#[path = "common/process.rs"]
#[allow(dead_code)]
mod process;

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use browser::{Browser, Skip};
use fantoccini::{Client, Locator, key::Key};
use ilink_examples::TINY_PNG;
use ilink_testkit::harness::{WAIT, within};
use process::demo_offline;
use serde_json::Value;

/// Says something on the test's stderr even when libtest captures output.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The demo binary with no credentials and an empty state directory, so it
/// starts its embedded simulator; killed on drop.
struct Demo {
    child: Child,
    lines: Receiver<String>,
    _state: tempfile::TempDir,
}

impl Demo {
    fn start() -> Self {
        let state = tempfile::tempdir().unwrap();
        let mut child = demo_offline(state.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("demo starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            lines,
            _state: state,
        }
    }

    /// Reads lines until one satisfies `pred`; returns it.
    fn until(&self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .expect("the demo keeps talking");
            if pred(&line) {
                return line;
            }
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bubble of the bot (`from` = "bot") or of the person ("user") with exactly `text`.
fn bubble(from: &str, text: &str) -> String {
    format!(
        "//div[contains(concat(' ', @class, ' '), ' row ') and contains(concat(' ', @class, ' '), ' {from} ')]\
         /div[@class='bubble' and normalize-space(.)='{text}']"
    )
}

/// Waits until the page shows an element at `xpath` (the page re-renders
/// its log every second, so it is found anew each time).
async fn shows(c: &Client, xpath: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(xpath))
        .await
        .unwrap_or_else(|e| panic!("the page never showed {xpath}: {e}"));
}

/// Runs `script` until it returns `true`.
async fn until_js(c: &Client, what: &str, script: &str) {
    within(what, async {
        loop {
            if c.execute(script, vec![]).await.expect("the script runs") == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

async fn type_into(c: &Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_chats_with_the_demo_bot_in_headless_chromium() {
    let browser = match Browser::start().await {
        Ok(browser) => browser,
        Err(Skip(why)) => {
            say(&format!("chat page browser test skipped: {why}"));
            return;
        }
    };
    let demo = tokio::task::block_in_place(Demo::start);
    let chat = tokio::task::block_in_place(|| {
        demo.until(|l| l.starts_with("Chat with the bot in a browser: "))
    });
    let chat = chat
        .trim_start_matches("Chat with the bot in a browser: ")
        .to_owned();
    // The scripted user has had their turn; the bot now waits for people.
    tokio::task::block_in_place(|| demo.until(|l| l.starts_with("Press ctrl-c")));
    let c = &browser.client;

    // The page renders and lists the demo's account.
    c.goto(&chat).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "ilink-sim chat");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#bot option[value='demo@im.bot']"))
        .await
        .expect("the bot list loads");

    // Bob writes with the Send button; the reply arrives by polling.
    let user = c.find(Locator::Id("user")).await.unwrap();
    user.clear().await.unwrap();
    user.send_keys("bob@im.wechat").await.unwrap();
    c.find(Locator::Id("text"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    type_into(c, "text", "hello browser").await;
    c.find(Locator::Id("send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    shows(c, &bubble("user", "hello browser")).await;
    shows(c, &bubble("bot", "Hello! You said: hello browser")).await;

    // A command, sent with the Enter key.
    type_into(c, "text", &format!("/add 2 40{}", char::from(Key::Enter))).await;
    shows(c, &bubble("bot", "2 + 40 = 42")).await;

    // Attach an image: it shows on the person's side, and the bot answers.
    let files = tempfile::tempdir().unwrap();
    let png = files.path().join("cat.png");
    std::fs::write(&png, TINY_PNG).unwrap();
    type_into(c, "file", png.to_str().unwrap()).await;
    shows(
        c,
        &bubble(
            "bot",
            &format!("Nice picture! It is {} bytes.", TINY_PNG.len()),
        ),
    )
    .await;
    until_js(
        c,
        "the attached image to load",
        "const imgs = [...document.querySelectorAll('.row.user img')];
         return imgs.length === 1 && imgs[0].complete && imgs[0].naturalWidth === 1;",
    )
    .await;

    // "+ bot" asks for an id, creates the account and switches to it.
    c.find(Locator::Id("add-bot"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    within("the + bot prompt", async {
        while c.send_alert_text("second@im.bot").await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    c.accept_alert().await.unwrap();
    until_js(
        c,
        "the new bot to be selected",
        "return document.getElementById('bot').value === 'second@im.bot'
             && document.getElementById('status').textContent.startsWith('Created second@im.bot');",
    )
    .await;
    shows(c, "//div[@id='empty']").await;
    type_into(
        c,
        "text",
        &format!("anyone there?{}", char::from(Key::Enter)),
    )
    .await;
    shows(c, &bubble("user", "anyone there?")).await;

    // Back to the demo bot: Bob's conversation is there again.
    c.find(Locator::Id("bot"))
        .await
        .unwrap()
        .select_by_value("demo@im.bot")
        .await
        .unwrap();
    shows(c, &bubble("bot", "2 + 40 = 42")).await;
    until_js(
        c,
        "the second bot's conversation to be gone",
        "return !document.getElementById('log').textContent.includes('anyone there?');",
    )
    .await;

    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    say(&format!(
        "chat page browser test ran in {} (headless)",
        browser.version
    ));
    browser.close().await;
    drop(demo);
}
