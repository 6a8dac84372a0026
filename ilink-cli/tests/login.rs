//! `ilink login` against the simulator's QR flow: the test plays the phone
//! through the simulator while the CLI polls, and types the verify code on
//! the CLI's stdin.

mod common;

use common::Env;
use ilink_framework::store::StateStore;
use ilink_testkit::QrAction;
use ilink_testkit::harness::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_verify_code_stores_owner_only_credentials() {
    let env = Env::new().await;
    let base = env.sim.base_url();
    let mut cli = env.spawn(&["login", "--base-url", &base]);

    let qr = env
        .sim
        .wait_for_qr(WAIT)
        .await
        .expect("a QR code is requested");
    cli.until("QR code 1 of 3").await;
    let url = cli.until("or open: ").await;
    assert!(url.contains("/mock/qr/page"), "{url}");
    qr.scan();
    cli.until("scanned: confirm the login").await;

    qr.act(QrAction::NeedVerifyCode {
        code: "4321".into(),
    });
    cli.until("the phone shows a number").await;
    cli.type_line("1111").await;
    cli.until("not accepted").await;
    cli.type_line("4321").await;
    cli.until("scanned: confirm the login").await;

    let bot = qr.confirm().expect("confirmation creates the account");
    cli.until("confirmed on the phone").await;
    let (code, out, err) = cli.finish().await;
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(&format!("logged in as {}", bot.bot_id)),
        "{out}"
    );
    assert!(out.contains("scanned by owner@im.wechat"), "{out}");
    assert!(!out.contains(bot.token.expose()) && !err.contains(bot.token.expose()));

    let stored = env.store().await.list_credentials().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].account_id.as_str(), bot.bot_id);
    assert_eq!(stored[0].bot_token, bot.token);
    assert_eq!(stored[0].base_url.as_deref(), Some(base.as_str()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Credentials live in the state database, with its journal files.
        let dir = env.state();
        let file = dir.join(ilink_framework::store::DATABASE_FILE);
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(dir), 0o700);
        for suffix in ["-wal", "-shm"] {
            let mut journal = file.clone().into_os_string();
            journal.push(suffix);
            if let Ok(meta) = std::fs::metadata(&journal) {
                assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{journal:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refreshes_an_expired_code_and_follows_a_redirect() {
    let env = Env::new().await;
    let mut cli = env.spawn(&["login", "--base-url", &env.sim.base_url()]);

    let first = env.sim.wait_for_qr(WAIT).await.unwrap();
    cli.until("QR code 1 of 3").await;
    first.act(QrAction::Expire);
    cli.until("the QR code expired").await;
    cli.until("QR code 2 of 3").await;
    let second = env.sim.wait_for_qr(WAIT).await.unwrap();
    assert_ne!(second.qrcode, first.qrcode);

    second.act(QrAction::Redirect { host: None });
    cli.until("moved the login to another host").await;
    second.confirm().expect("confirmed");
    cli.until("logged in as").await;
    let (code, out, err) = cli.finish().await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(env.store().await.list_credentials().await.unwrap().len(), 1);
    // The status polls after the redirect went to the second listener.
    let alt = env.sim.alt_base_url();
    let alt_host = alt.trim_start_matches("http://");
    assert!(
        env.sim.requests().iter().any(|r| {
            r.path.ends_with("get_qrcode_status")
                && r.headers.get("host").and_then(|h| h.to_str().ok()) == Some(alt_host)
        }),
        "no status poll reached {alt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_already_bound_bot_stores_nothing_and_a_second_login_adds_an_account() {
    let env = Env::new().await;
    env.stored_account("first").await;
    let mut cli = env.spawn(&["login", "--base-url", &env.sim.base_url()]);
    let qr = env.sim.wait_for_qr(WAIT).await.unwrap();
    qr.act(QrAction::BindedRedirect);
    cli.until("already bound").await;
    let (code, out, _) = cli.finish().await;
    assert_eq!(code, Some(0));
    assert!(out.contains("nothing to store"), "{out}");
    assert_eq!(env.store().await.list_credentials().await.unwrap().len(), 1);

    env.sim.reset();
    // With --json the progress goes to stderr and stdout holds only the result.
    let mut cli = env.spawn(&["login", "--json", "--base-url", &env.sim.base_url()]);
    let qr = env.sim.wait_for_qr(WAIT).await.unwrap();
    let bot = qr.confirm().unwrap();
    let line = cli.until("\"status\"").await;
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["status"], "confirmed");
    assert_eq!(v["account_id"], bot.bot_id.as_str());
    let (code, out, err) = cli.finish().await;
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        err.contains("QR code 1 of 3") && err.contains("confirmed on the phone"),
        "{err}"
    );
    assert_eq!(env.store().await.list_credentials().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_stdin_instead_of_a_code_fails_with_a_hint() {
    let env = Env::new().await;
    let mut cli = env.spawn(&["login", "--base-url", &env.sim.base_url()]);
    let qr = env.sim.wait_for_qr(WAIT).await.unwrap();
    qr.act(QrAction::NeedVerifyCode { code: "1".into() });
    cli.until("the phone shows a number").await;
    let (code, _out, err) = cli.finish().await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("error: login failed: a verify code was required"),
        "{err}"
    );
    assert!(err.contains("hint: type the number"), "{err}");
    assert!(
        env.store()
            .await
            .list_credentials()
            .await
            .unwrap()
            .is_empty()
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_login_exits_130_and_stores_nothing() {
    let env = Env::new().await;
    let mut cli = env.spawn(&["login", "--base-url", &env.sim.base_url()]);
    env.sim.wait_for_qr(WAIT).await.unwrap();
    cli.until("or open: ").await;
    cli.interrupt();
    let (code, _out, err) = cli.finish().await;
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("error: interrupted"), "{err}");
    assert!(
        env.store()
            .await
            .list_credentials()
            .await
            .unwrap()
            .is_empty()
    );
}
