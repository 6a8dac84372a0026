//! Neither logs nor errors reveal tokens, context tokens or QR values.
//! Alone in its own test binary so no other test's tracing state interferes.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{MockServer, Reply, api_at};
use ilink_core::Secret;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_and_errors_never_show_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("ilink_core=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start(|r, _| {
        if r.path.ends_with("get_qrcode_status") {
            Reply::status(400, r#"{"qrcode":"qr-secret-value-0123456789"}"#)
        } else {
            Reply::json(json!({"ret": -2, "errmsg": "x"}))
        }
    })
    .await;
    let api = api_at(&server.url);
    let ctx = Secret::new("ctx-secret-value-0123456789");
    let mut errors = Vec::new();
    errors.push(api.get_config("u", Some(&ctx)).await.unwrap_err());
    let qr = Secret::new("qr-secret-value-0123456789");
    errors.push(api.get_qrcode_status(&qr, None).await.unwrap_err());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("getconfig"), "spans are logged: {logs}");
    let all = format!(
        "{logs}\n{errors:?}\n{}",
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for secret in [
        "verysecrettokenvalue",
        "ctx-secret-value",
        "qr-secret-value",
    ] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
}
