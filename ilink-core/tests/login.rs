//! QR login against scripted status sequences: every status of protocol.md,
//! refresh limits, verify codes, redirects, and the time limit.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{MockServer, Recorded, Reply, closed_port};
use ilink_core::login::{FnCallbacks, LoginError, LoginOptions, LoginOutcome, login_with_qr};
use ilink_core::types::QrStatus;
use ilink_core::{Api, ApiConfig, Secret};
use serde_json::json;

const QR: &str = "/ilink/bot/get_bot_qrcode";
const STATUS: &str = "/ilink/bot/get_qrcode_status";

/// A server whose QR codes are `qr-1`, `qr-2`, … and whose status replies
/// come from `script`, given the request and the count of status polls so far.
async fn qr_server(
    script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
) -> MockServer {
    let polls = Arc::new(Mutex::new(0usize));
    let qrs = Arc::new(Mutex::new(0usize));
    MockServer::start(move |r, _| {
        if r.path == QR {
            let mut n = qrs.lock().unwrap();
            *n += 1;
            Reply::json(json!({"qrcode": format!("qr-{n}"), "qrcode_img_content": format!("https://qr.example/{n}")}))
        } else {
            let mut n = polls.lock().unwrap();
            let i = *n;
            *n += 1;
            script(r, i)
        }
    })
    .await
}

fn status(s: &str) -> Reply {
    Reply::json(json!({"status": s}))
}

fn confirmed() -> Reply {
    Reply::json(json!({
        "status": "confirmed", "bot_token": "bot1@im.bot:tok", "ilink_bot_id": "bot1@im.bot",
        "baseurl": "https://api.example", "ilink_user_id": "owner@im.wechat"
    }))
}

fn api(server: &MockServer) -> Api {
    let config = ApiConfig::builder().base_url(&server.url).build().unwrap();
    Api::with_http(reqwest::Client::new(), config)
}

fn fast() -> LoginOptions {
    LoginOptions {
        poll_interval: Duration::from_millis(5),
        redirect_scheme: "http".into(),
        ..LoginOptions::default()
    }
}

#[derive(Clone, Default)]
struct Seen {
    qr: Arc<Mutex<Vec<String>>>,
    statuses: Arc<Mutex<Vec<String>>>,
    asked: Arc<Mutex<Vec<u32>>>,
}

fn callbacks(seen: &Seen, codes: Vec<&'static str>) -> FnCallbacks {
    let (q, s, a) = (seen.qr.clone(), seen.statuses.clone(), seen.asked.clone());
    let codes = Arc::new(Mutex::new(codes.into_iter()));
    FnCallbacks::new()
        .on_qr_code(move |url: &Secret| q.lock().unwrap().push(url.expose().to_owned()))
        .on_status(move |st: &QrStatus| s.lock().unwrap().push(st.as_str().to_owned()))
        .on_verify_code(move |attempt| {
            a.lock().unwrap().push(attempt);
            let code = codes.lock().unwrap().next().map(str::to_owned);
            async move { code }
        })
}

async fn login(
    server: &MockServer,
    seen: &Seen,
    codes: Vec<&'static str>,
    options: LoginOptions,
) -> Result<LoginOutcome, LoginError> {
    login_with_qr(&api(server), &mut callbacks(seen, codes), options).await
}

#[tokio::test]
async fn wait_scanned_confirmed_yields_credentials() {
    let server = qr_server(|_, i| match i {
        0 | 1 => status("wait"),
        2 => status("scaned"),
        _ => confirmed(),
    })
    .await;
    let seen = Seen::default();
    let outcome = login(&server, &seen, vec![], fast()).await.unwrap();
    let LoginOutcome::Confirmed(creds) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(creds.bot_token.expose(), "bot1@im.bot:tok");
    assert_eq!(creds.account_id, "bot1@im.bot");
    assert_eq!(creds.base_url, "https://api.example");
    assert_eq!(creds.user_id.as_deref(), Some("owner@im.wechat"));
    assert!(!format!("{creds:?}").contains(":tok"));
    assert_eq!(*seen.qr.lock().unwrap(), ["https://qr.example/1"]);
    assert_eq!(
        *seen.statuses.lock().unwrap(),
        ["wait", "scaned", "confirmed"]
    );
    let polls = server.requests_to(STATUS);
    assert_eq!(polls.len(), 4);
    assert!(
        polls
            .iter()
            .all(|r| r.query_param("qrcode").as_deref() == Some("qr-1"))
    );
    let qr_req = &server.requests_to(QR)[0];
    assert_eq!(qr_req.query.as_deref(), Some("bot_type=3"));
}

#[tokio::test]
async fn confirmation_without_bot_id_is_an_error() {
    let server =
        qr_server(|_, _| Reply::json(json!({"status": "confirmed", "bot_token": "t"}))).await;
    let err = login(&server, &Seen::default(), vec![], fast())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LoginError::MissingField("ilink_bot_id")),
        "{err:?}"
    );
    let server =
        qr_server(|_, _| Reply::json(json!({"status": "confirmed", "ilink_bot_id": "b"}))).await;
    let err = login(&server, &Seen::default(), vec![], fast())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LoginError::MissingField("bot_token")),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_baseurl_falls_back_to_the_login_host() {
    let server = qr_server(|_, _| {
        Reply::json(json!({"status": "confirmed", "bot_token": "t", "ilink_bot_id": "b"}))
    })
    .await;
    let LoginOutcome::Confirmed(creds) = login(&server, &Seen::default(), vec![], fast())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(creds.base_url, server.url);
    assert_eq!(creds.user_id, None);
}

#[tokio::test]
async fn binded_redirect_is_success_without_credentials() {
    let server = qr_server(|_, _| status("binded_redirect")).await;
    let outcome = login(&server, &Seen::default(), vec![], fast())
        .await
        .unwrap();
    assert_eq!(outcome, LoginOutcome::AlreadyBound);
}

#[tokio::test]
async fn expired_refreshes_and_gives_up_after_three_qr_codes() {
    let server = qr_server(|_, _| status("expired")).await;
    let seen = Seen::default();
    let err = login(&server, &seen, vec![], fast()).await.unwrap_err();
    assert!(matches!(err, LoginError::TooManyQrCodes(3)), "{err:?}");
    assert_eq!(server.requests_to(QR).len(), 3);
    assert_eq!(
        seen.qr.lock().unwrap().len(),
        3,
        "on_qr_code on every refresh"
    );
}

#[tokio::test]
async fn a_refreshed_code_can_still_succeed_and_blocked_counts_as_a_refresh() {
    let server = qr_server(
        |r, i| match (r.query_param("qrcode").unwrap().as_str(), i) {
            ("qr-1", _) => status("expired"),
            ("qr-2", _) => status("verify_code_blocked"),
            _ => confirmed(),
        },
    )
    .await;
    let outcome = login(&server, &Seen::default(), vec![], fast())
        .await
        .unwrap();
    assert!(matches!(outcome, LoginOutcome::Confirmed(_)));
    assert_eq!(server.requests_to(QR).len(), 3);

    let server = qr_server(|_, _| status("verify_code_blocked")).await;
    let err = login(&server, &Seen::default(), vec![], fast())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::TooManyQrCodes(3)), "{err:?}");
}

#[tokio::test]
async fn verify_code_wrong_then_right() {
    let server = qr_server(|r, _| match r.query_param("verify_code").as_deref() {
        None => status("need_verifycode"),
        Some("1111") => status("need_verifycode"),
        Some("2222") => confirmed(),
        Some(other) => panic!("unexpected code {other}"),
    })
    .await;
    let seen = Seen::default();
    let outcome = login(&server, &seen, vec!["1111", " 2222 "], fast())
        .await
        .unwrap();
    assert!(matches!(outcome, LoginOutcome::Confirmed(_)));
    assert_eq!(
        *seen.asked.lock().unwrap(),
        [1, 2],
        "asked again after a wrong code"
    );
    let codes: Vec<_> = server
        .requests_to(STATUS)
        .iter()
        .map(|r| r.query_param("verify_code"))
        .collect();
    assert_eq!(codes, [None, Some("1111".into()), Some("2222".into())]);
}

#[tokio::test]
async fn a_verify_code_whose_poll_was_lost_is_sent_again() {
    let lost = Arc::new(Mutex::new(false));
    let server = qr_server(move |r, _| match r.query_param("verify_code").as_deref() {
        None => status("need_verifycode"),
        // The first poll with the code never gets an answer through.
        Some("1111") if !std::mem::replace(&mut *lost.lock().unwrap(), true) => {
            Reply::status(502, "bad gateway")
        }
        Some("1111") => confirmed(),
        Some(other) => panic!("unexpected code {other}"),
    })
    .await;
    let seen = Seen::default();
    let outcome = login(&server, &seen, vec!["1111"], fast()).await.unwrap();
    assert!(matches!(outcome, LoginOutcome::Confirmed(_)));
    assert_eq!(*seen.asked.lock().unwrap(), [1], "asked once");
    let codes: Vec<_> = server
        .requests_to(STATUS)
        .iter()
        .map(|r| r.query_param("verify_code"))
        .collect();
    assert_eq!(
        codes,
        [None, Some("1111".into()), Some("1111".into())],
        "sent again with the next poll"
    );
}

#[tokio::test]
async fn no_verify_code_gives_up() {
    let server = qr_server(|_, _| status("need_verifycode")).await;
    let err = login(&server, &Seen::default(), vec![], fast())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::VerifyCodeCancelled), "{err:?}");
}

#[tokio::test]
async fn scaned_but_redirect_moves_polling_to_the_new_host() {
    let other = qr_server(|_, _| confirmed()).await;
    let port = other.port;
    let main = qr_server(move |_, _| {
        Reply::json(
            json!({"status": "scaned_but_redirect", "redirect_host": format!("127.0.0.1:{port}")}),
        )
    })
    .await;
    let outcome = login(&main, &Seen::default(), vec![], fast())
        .await
        .unwrap();
    assert!(matches!(outcome, LoginOutcome::Confirmed(_)));
    assert_eq!(main.requests_to(STATUS).len(), 1);
    let moved = other.requests_to(STATUS);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].query_param("qrcode").as_deref(), Some("qr-1"));
    assert!(other.requests_to(QR).is_empty());

    // A full URL in redirect_host is honoured as it is.
    let url = other.url.clone();
    let main = qr_server(move |_, _| {
        Reply::json(json!({"status": "scaned_but_redirect", "redirect_host": url.clone()}))
    })
    .await;
    let options = LoginOptions {
        redirect_scheme: "https".into(),
        ..fast()
    };
    assert!(
        login(&main, &Seen::default(), vec![], options)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn gateway_errors_and_unknown_statuses_count_as_wait() {
    let server = qr_server(|_, i| match i {
        0 => Reply::status(504, "gateway timeout"),
        1 => Reply::status(502, "bad gateway"),
        2 => status("some_new_status"),
        _ => confirmed(),
    })
    .await;
    assert!(
        login(&server, &Seen::default(), vec![], fast())
            .await
            .is_ok()
    );
    assert_eq!(server.requests_to(STATUS).len(), 4);
}

#[tokio::test]
async fn the_total_time_limit_ends_the_login() {
    let server = qr_server(|_, _| status("wait")).await;
    let options = LoginOptions {
        total_timeout: Duration::from_millis(100),
        ..fast()
    };
    let err = login(&server, &Seen::default(), vec![], options)
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_login_host_is_a_request_error() {
    let port = closed_port().await;
    let config = ApiConfig::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let api = Api::with_http(reqwest::Client::new(), config);
    let err = login_with_qr(&api, &mut FnCallbacks::new(), fast())
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::Request(_)), "{err:?}");
}
