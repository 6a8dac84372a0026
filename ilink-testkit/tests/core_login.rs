//! `ilink-core`'s `login_with_qr` against the simulator's QR login, with the phone side
//! scripted: confirm, three expired codes, a wrong then a right verify code, too many
//! wrong codes (refresh), a redirect to the second listener, and `binded_redirect`.

use std::time::Duration;

use ilink_core::login::{
    FnCallbacks, LoginError, LoginOptions, LoginOutcome, LoginResult, login_with_qr,
};
use ilink_core::types::QrStatus;
use ilink_core::{Api, ApiConfig, Endpoint, ILinkClient};
use ilink_testkit::harness::WAIT;
use ilink_testkit::{QrAction, QrLogin, Simulator};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::task::JoinHandle;

/// What the login told its user interface.
#[derive(Debug)]
enum Event {
    Qr(String),
    Status(QrStatus),
    Verify(u32),
}

struct Login {
    events: UnboundedReceiver<Event>,
    task: JoinHandle<Result<LoginOutcome, LoginError>>,
}

/// Starts `login_with_qr` against the simulator; `codes[n]` answers verify attempt n+1
/// (the last one repeats).
fn start_login(sim: &Simulator, codes: &[&str]) -> Login {
    let (tx, events) = unbounded_channel();
    let codes: Vec<String> = codes.iter().map(|c| (*c).to_owned()).collect();
    let (qr_tx, status_tx, verify_tx) = (tx.clone(), tx.clone(), tx);
    let mut callbacks = FnCallbacks::new()
        .on_qr_code(move |c| {
            let _ = qr_tx.send(Event::Qr(c.expose().to_owned()));
        })
        .on_status(move |s| {
            let _ = status_tx.send(Event::Status(s.clone()));
        })
        .on_verify_code(move |attempt| {
            let _ = verify_tx.send(Event::Verify(attempt));
            let i = (attempt as usize - 1).min(codes.len().saturating_sub(1));
            let code = codes.get(i).cloned();
            async move { code }
        });
    let config = ApiConfig::builder()
        .base_url(sim.base_url())
        .build()
        .unwrap();
    let api = Api::new(config).unwrap();
    let options = LoginOptions {
        poll_interval: Duration::from_millis(10),
        redirect_scheme: "http".into(),
        ..LoginOptions::default()
    };
    let task = tokio::spawn(async move { login_with_qr(&api, &mut callbacks, options).await });
    Login { events, task }
}

impl Login {
    async fn next(&mut self) -> Event {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("the login stalled")
            .expect("the login ended")
    }

    /// Waits for a new QR code and returns the phone side of it.
    async fn next_qr(&mut self, sim: &Simulator) -> QrLogin {
        loop {
            if let Event::Qr(content) = self.next().await {
                // The client shows the code after the server created it: it is the newest.
                let qr = sim.wait_for_qr(WAIT).await.unwrap();
                assert!(content.contains(qr.qrcode.expose()), "{content}");
                return qr;
            }
        }
    }

    /// Waits until the client reports `status`; returns the verify attempts seen so far.
    async fn status(&mut self, status: QrStatus) -> Vec<u32> {
        let mut attempts = Vec::new();
        loop {
            match self.next().await {
                Event::Status(s) if s == status => return attempts,
                Event::Verify(n) => attempts.push(n),
                _ => {}
            }
        }
    }

    async fn outcome(self) -> Result<LoginOutcome, LoginError> {
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the login did not end")
            .unwrap()
    }
}

fn confirmed(outcome: Result<LoginOutcome, LoginError>) -> LoginResult {
    match outcome {
        Ok(LoginOutcome::Confirmed(creds)) => creds,
        other => panic!("expected a confirmed login, got {other:?}"),
    }
}

#[tokio::test]
async fn scan_and_confirm_yield_working_credentials() {
    let sim = Simulator::start().await;
    let mut login = start_login(&sim, &[]);
    let qr = login.next_qr(&sim).await;
    qr.scan();
    login.status(QrStatus::Scanned).await;
    let acct = qr.confirm().unwrap();
    let creds = confirmed(login.outcome().await);
    assert_eq!(creds.bot_token, acct.token);
    assert_eq!(creds.account_id, acct.bot_id);
    assert_eq!(creds.base_url, sim.base_url());
    assert_eq!(creds.user_id.as_deref(), Some("owner@im.wechat"));

    let client = ILinkClient::new(creds.base_url, creds.bot_token).unwrap();
    client.notify_start().await.unwrap();
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sim.shutdown().await;
}

#[tokio::test]
async fn three_expired_codes_give_up() {
    let sim = Simulator::start().await;
    let mut login = start_login(&sim, &[]);
    for _ in 0..3 {
        login.next_qr(&sim).await.act(QrAction::Expire);
    }
    match login.outcome().await {
        Err(LoginError::TooManyQrCodes(3)) => {}
        other => panic!("expected TooManyQrCodes(3), got {other:?}"),
    }
    let qr_requests = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::GetBotQrcode))
        .count();
    assert_eq!(qr_requests, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_verify_code_is_asked_again_then_the_right_one_passes() {
    let sim = Simulator::start().await;
    let mut login = start_login(&sim, &["0000", "4321"]);
    let qr = login.next_qr(&sim).await;
    qr.scan();
    login.status(QrStatus::Scanned).await;
    qr.act(QrAction::NeedVerifyCode {
        code: "4321".into(),
    });
    login.status(QrStatus::NeedVerifyCode).await;
    let attempts = login.status(QrStatus::Scanned).await;
    assert_eq!(attempts, [1, 2]);
    let acct = qr.confirm().unwrap();
    assert_eq!(confirmed(login.outcome().await).account_id, acct.bot_id);
    sim.shutdown().await;
}

#[tokio::test]
async fn too_many_wrong_codes_block_and_refresh_the_qr_code() {
    let sim = Simulator::start().await;
    let mut login = start_login(&sim, &["1111"]);
    let first = login.next_qr(&sim).await;
    first.act(QrAction::NeedVerifyCode {
        code: "4321".into(),
    });
    let attempts = login.status(QrStatus::VerifyCodeBlocked).await;
    assert_eq!(attempts, [1, 2, 3]);

    let second = login.next_qr(&sim).await;
    assert_ne!(second.qrcode, first.qrcode);
    let acct = second.confirm().unwrap();
    assert_eq!(confirmed(login.outcome().await).bot_token, acct.token);
    sim.shutdown().await;
}

#[tokio::test]
async fn scaned_but_redirect_moves_polling_to_the_alt_listener() {
    let sim = Simulator::start().await;
    let mut login = start_login(&sim, &[]);
    let qr = login.next_qr(&sim).await;
    qr.scan();
    qr.act(QrAction::Redirect { host: None });
    login.status(QrStatus::ScannedButRedirect).await;
    let acct = qr.confirm().unwrap();
    let creds = confirmed(login.outcome().await);
    assert_eq!(creds.account_id, acct.bot_id);
    assert_eq!(creds.base_url, sim.base_url());

    let alt_host = sim.alt_base_url().trim_start_matches("http://").to_owned();
    let hosts: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::GetQrcodeStatus))
        .map(|r| r.header("host").unwrap_or_default().to_owned())
        .collect();
    assert_ne!(hosts[0], alt_host);
    assert_eq!(hosts.last(), Some(&alt_host), "{hosts:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn binded_redirect_is_already_bound() {
    let sim = Simulator::start().await;
    let mut login = start_login(&sim, &[]);
    login.next_qr(&sim).await.act(QrAction::BindedRedirect);
    match login.outcome().await {
        Ok(LoginOutcome::AlreadyBound) => {}
        other => panic!("expected AlreadyBound, got {other:?}"),
    }
    assert!(sim.accounts().is_empty());
    sim.shutdown().await;
}
