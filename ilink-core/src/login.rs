//! QR login as a state machine driven by callbacks.
//!
//! [`login_with_qr`] fetches a QR code, hands its content to
//! [`LoginCallbacks::on_qr_code`], and polls its status about once a second
//! until the login is confirmed, the bot turns out to be bound already, or it
//! gives up (3 QR codes, 8 minutes). A verify code shown on the phone is asked
//! for through [`LoginCallbacks::verify_code`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ilink_core::{Api, ApiConfig};
//! use ilink_core::login::{login_with_qr, FnCallbacks, LoginOptions, LoginOutcome};
//!
//! let api = Api::new(ApiConfig::default())?;
//! let mut callbacks = FnCallbacks::new()
//!     .on_qr_code(|url| println!("scan: {}", url.expose()))
//!     .on_status(|status| println!("status: {}", status.as_str()));
//! match login_with_qr(&api, &mut callbacks, LoginOptions::default()).await? {
//!     LoginOutcome::Confirmed(creds) => println!("logged in as {}", creds.account_id),
//!     LoginOutcome::AlreadyBound => println!("already bound here"),
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::api::Api;
use crate::error::Error;
use crate::secret::Secret;
use crate::types::{QrStatus, QrStatusResponse};

/// A boxed future, as returned by [`LoginCallbacks::verify_code`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the login tells its user interface.
pub trait LoginCallbacks: Send {
    /// A QR code is ready: render `content` (a URL). Called again on every refresh.
    fn on_qr_code(&mut self, content: &Secret);

    /// The login status changed.
    fn on_status(&mut self, _status: &QrStatus) {}

    /// The phone shows a number the person must type in. `attempt` starts
    /// at 1; a higher one means the previous code was wrong. `None` gives up.
    fn verify_code(&mut self, _attempt: u32) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }
}

type QrFn = Box<dyn FnMut(&Secret) + Send>;
type StatusFn = Box<dyn FnMut(&QrStatus) + Send>;
type VerifyFn = Box<dyn FnMut(u32) -> BoxFuture<'static, Option<String>> + Send>;

/// [`LoginCallbacks`] made of closures; unset ones do nothing (and a
/// missing verify-code closure gives up when a code is needed).
#[derive(Default)]
pub struct FnCallbacks {
    qr: Option<QrFn>,
    status: Option<StatusFn>,
    verify: Option<VerifyFn>,
}

impl fmt::Debug for FnCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCallbacks").finish_non_exhaustive()
    }
}

impl FnCallbacks {
    /// Callbacks that do nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Called with the QR content, on the first code and on every refresh.
    pub fn on_qr_code(mut self, f: impl FnMut(&Secret) + Send + 'static) -> Self {
        self.qr = Some(Box::new(f));
        self
    }

    /// Called on every status change.
    pub fn on_status(mut self, f: impl FnMut(&QrStatus) + Send + 'static) -> Self {
        self.status = Some(Box::new(f));
        self
    }

    /// Asked for the verify code shown on the phone.
    pub fn on_verify_code<F, Fut>(mut self, mut f: F) -> Self
    where
        F: FnMut(u32) -> Fut + Send + 'static,
        Fut: Future<Output = Option<String>> + Send + 'static,
    {
        self.verify = Some(Box::new(move |attempt| Box::pin(f(attempt))));
        self
    }
}

impl LoginCallbacks for FnCallbacks {
    fn on_qr_code(&mut self, content: &Secret) {
        if let Some(f) = &mut self.qr {
            f(content);
        }
    }

    fn on_status(&mut self, status: &QrStatus) {
        if let Some(f) = &mut self.status {
            f(status);
        }
    }

    fn verify_code(&mut self, attempt: u32) -> BoxFuture<'_, Option<String>> {
        match &mut self.verify {
            Some(f) => f(attempt),
            None => Box::pin(async { None }),
        }
    }
}

/// Limits and settings of a login.
#[derive(Clone, Debug)]
pub struct LoginOptions {
    /// QR codes to try in all before giving up (default 3).
    pub max_qr_codes: u32,
    /// Total time limit (default 8 minutes).
    pub total_timeout: Duration,
    /// Pause between status polls (default 1 s).
    pub poll_interval: Duration,
    /// Scheme for a `redirect_host` given without one (default `https`).
    pub redirect_scheme: String,
    /// Up to the 10 newest locally stored bot tokens, sent with the QR request.
    pub local_tokens: Vec<Secret>,
}

impl Default for LoginOptions {
    fn default() -> Self {
        Self {
            max_qr_codes: 3,
            total_timeout: Duration::from_secs(8 * 60),
            poll_interval: Duration::from_secs(1),
            redirect_scheme: "https".to_owned(),
            local_tokens: Vec::new(),
        }
    }
}

/// Credentials of a confirmed login. Store them with owner-only permissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginResult {
    /// Bearer token of the bot.
    pub bot_token: Secret,
    /// The bot account id (`ilink_bot_id`).
    pub account_id: String,
    /// API base URL to use from now on.
    pub base_url: String,
    /// The person who scanned (`ilink_user_id`), when sent.
    pub user_id: Option<String>,
}

/// How a login ended successfully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// New credentials.
    Confirmed(LoginResult),
    /// The bot is already bound to this client: keep the stored credentials.
    AlreadyBound,
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// A request failed in a way polling again would not fix.
    #[error("login request failed: {0}")]
    Request(#[from] Error),
    /// Every QR code expired or was blocked.
    #[error("gave up after {0} QR codes expired or were blocked; start the login again")]
    TooManyQrCodes(u32),
    /// The total time limit elapsed.
    #[error("login timed out after {0:?}")]
    Timeout(Duration),
    /// A verify code was needed and none was given.
    #[error("a verify code was required but none was entered")]
    VerifyCodeCancelled,
    /// The server confirmed without a field the login needs.
    #[error("the server confirmed the login without {0}")]
    MissingField(&'static str),
    /// The server redirected to a host that is not usable.
    #[error("the server redirected to an unusable host: {0}")]
    BadRedirect(String),
}

/// Runs a QR login to its end. See the module documentation.
pub async fn login_with_qr(
    api: &Api,
    callbacks: &mut dyn LoginCallbacks,
    options: LoginOptions,
) -> Result<LoginOutcome, LoginError> {
    let limit = options.total_timeout;
    match tokio::time::timeout(limit, run(api, callbacks, &options)).await {
        Ok(result) => result,
        Err(_) => Err(LoginError::Timeout(limit)),
    }
}

async fn run(
    api: &Api,
    callbacks: &mut dyn LoginCallbacks,
    options: &LoginOptions,
) -> Result<LoginOutcome, LoginError> {
    let mut qr_count = 0;
    'qr: loop {
        if qr_count >= options.max_qr_codes {
            return Err(LoginError::TooManyQrCodes(qr_count));
        }
        let qr = api.get_bot_qrcode(&options.local_tokens).await?;
        qr_count += 1;
        if qr.qrcode.is_empty() {
            return Err(LoginError::MissingField("qrcode"));
        }
        tracing::info!(qr_code = qr_count, "login QR code ready");
        callbacks.on_qr_code(&qr.qrcode_img_content);

        // A redirect applies to the QR code it came with.
        let mut poll_api = api.clone();
        let mut last_status: Option<QrStatus> = None;
        let mut verify_attempts = 0;
        let mut pending_code: Option<String> = None;
        loop {
            // The code goes with every poll until one is answered: a poll
            // lost to the network did not deliver it.
            let resp = match poll_status(&poll_api, &qr.qrcode, pending_code.as_deref()).await? {
                Some(resp) => {
                    pending_code = None;
                    resp
                }
                None => QrStatusResponse::default(),
            };
            if last_status.as_ref() != Some(&resp.status) {
                callbacks.on_status(&resp.status);
                last_status = Some(resp.status.clone());
            }
            match resp.status {
                QrStatus::Wait | QrStatus::Scanned | QrStatus::Unknown(_) => {}
                QrStatus::NeedVerifyCode => {
                    verify_attempts += 1;
                    let code = callbacks
                        .verify_code(verify_attempts)
                        .await
                        .ok_or(LoginError::VerifyCodeCancelled)?;
                    pending_code = Some(code.trim().to_owned());
                    // Answer at once: the person is waiting.
                    continue;
                }
                QrStatus::VerifyCodeBlocked | QrStatus::Expired => continue 'qr,
                QrStatus::ScannedButRedirect => {
                    let host = resp.redirect_host.as_deref().unwrap_or("").trim();
                    if host.is_empty() {
                        return Err(LoginError::BadRedirect("(empty)".into()));
                    }
                    let url = if host.contains("://") {
                        host.to_owned()
                    } else {
                        format!("{}://{host}", options.redirect_scheme)
                    };
                    poll_api = api
                        .with_base_url(url)
                        .map_err(|_| LoginError::BadRedirect(host.to_owned()))?;
                }
                QrStatus::BindedRedirect => return Ok(LoginOutcome::AlreadyBound),
                QrStatus::Confirmed => return confirmed(api, resp).map(LoginOutcome::Confirmed),
            }
            tokio::time::sleep(options.poll_interval).await;
        }
    }
}

/// One status poll; `None` for network trouble and gateway errors, which
/// read as `wait`.
async fn poll_status(
    api: &Api,
    qrcode: &Secret,
    verify_code: Option<&str>,
) -> Result<Option<QrStatusResponse>, LoginError> {
    match api.get_qrcode_status(qrcode, verify_code).await {
        Ok(resp) => Ok(Some(resp)),
        Err(e) if e.is_retryable() => {
            tracing::debug!(error = %e, "QR status poll failed; treated as wait");
            Ok(None)
        }
        Err(e) => Err(LoginError::Request(e)),
    }
}

fn confirmed(api: &Api, resp: QrStatusResponse) -> Result<LoginResult, LoginError> {
    let bot_token = resp
        .bot_token
        .filter(|t| !t.expose().trim().is_empty())
        .ok_or(LoginError::MissingField("bot_token"))?;
    let account_id = resp
        .ilink_bot_id
        .filter(|id| !id.trim().is_empty())
        .ok_or(LoginError::MissingField("ilink_bot_id"))?;
    let base_url = match resp.baseurl.as_deref().map(str::trim) {
        Some(url) if url.contains("://") => url.to_owned(),
        Some(host) if !host.is_empty() => format!("https://{host}"),
        _ => api.config().base_url().to_owned(),
    };
    Ok(LoginResult {
        bot_token,
        account_id,
        base_url,
        user_id: resp.ilink_user_id.filter(|u| !u.is_empty()),
    })
}
