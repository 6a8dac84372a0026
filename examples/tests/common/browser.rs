//! Headless Chromium driven through chromedriver (WebDriver, by fantoccini),
//! for the chat page's browser test. Both come from Debian's `chromium` and
//! `chromium-driver` packages (`.ci/run` installs them when it can);
//! `ILINK_CHROMIUM` and `ILINK_CHROMEDRIVER` name other binaries. Without
//! them the test is skipped, saying why; with them, a browser that does not
//! start fails it. The browser reaches nothing but 127.0.0.1: its background
//! networking, updates and sync are off.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use ilink_testkit::harness::WAIT;
use serde_json::{Value, json};

/// A browser session and the chromedriver serving it (stopped on drop).
pub struct Browser {
    pub client: Client,
    pub version: String,
    driver: Child,
    profile: tempfile::TempDir,
}

/// Why there is no browser to test with.
pub struct Skip(pub String);

/// The first of `names` found on `PATH`, or the path `var` names.
fn find(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn version_of(binary: &Path) -> String {
    Command::new(binary)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or says why
    /// there is none to start. Panics when they are there and fail.
    pub async fn start() -> Result<Self, Skip> {
        let chromium = find("ILINK_CHROMIUM", &["chromium", "chromium-browser"]).ok_or_else(|| {
            Skip("no chromium on PATH (Debian: apt-get install chromium chromium-driver; or set ILINK_CHROMIUM)".into())
        })?;
        let chromedriver = find("ILINK_CHROMEDRIVER", &["chromedriver"]).ok_or_else(|| {
            Skip("no chromedriver on PATH (Debian: apt-get install chromium-driver; or set ILINK_CHROMEDRIVER)".into())
        })?;
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let mut browser = Browser {
            client: connect(port, &chromium, profile.path()).await,
            version: version_of(&chromium),
            driver,
            profile,
        };
        if browser.version.is_empty() {
            browser.version = chromium.display().to_string();
        }
        Ok(browser)
    }

    /// The browser's console messages at level SEVERE since the last call
    /// (uncaught exceptions, `console.error`, failed loads).
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver returns the browser log");
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Ends the WebDriver session, which quits Chromium, then chromedriver
    /// (on drop). The client is cloned out: a type with `Drop` gives up no field.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium outlives a killed chromedriver (it is reparented, not
        // signalled); after a failed test, its processes are the ones
        // naming this session's profile directory.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.profile.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Connects to chromedriver once it listens, asking for headless Chromium.
async fn connect(port: u16, chromium: &Path, profile: &Path) -> Client {
    let mut caps = Capabilities::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-domain-reliability",
                "--window-size=1200,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let attempt = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(client) => return client,
            // chromedriver is still starting; the guard only ends a hang.
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no browser session from chromedriver: {e}"),
        }
    }
}

/// chromedriver's `POST /session/{id}/se/log` with `{"type":"browser"}`:
/// the console entries since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body: Value = json!({ "type": "browser" });
        (http::Method::POST, Some(body.to_string()))
    }
}
