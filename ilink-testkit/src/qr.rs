//! QR login sessions and the state machine the phone side drives: scan, confirm,
//! expire, ask for a verify code, redirect. The endpoints and the credentials a
//! confirmation issues are in [`login`](crate::login); this module holds no accounts.

use ilink_core::types::QrStatus;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Credentials a confirmed login hands out.
#[derive(Clone, Debug)]
pub(crate) struct Confirmed {
    pub bot_token: String,
    pub bot_id: String,
    pub baseurl: String,
    pub user_id: String,
}

/// One QR code and its state.
pub(crate) struct QrSession {
    pub qrcode: String,
    pub status: QrStatus,
    version: u64,
    reported: u64,
    verify_code: Option<String>,
    wrong_codes: u32,
    redirect_host: Option<String>,
    pub confirmed: Option<Confirmed>,
}

/// All QR sessions, oldest first.
#[derive(Default)]
pub(crate) struct QrStore {
    pub sessions: Vec<QrSession>,
}

impl QrStore {
    /// Starts a session for a fresh `qrcode`, waiting to be scanned.
    pub fn open(&mut self, qrcode: String) {
        self.sessions.push(QrSession {
            qrcode,
            status: QrStatus::Wait,
            version: 0,
            reported: 0,
            verify_code: None,
            wrong_codes: 0,
            redirect_host: None,
            confirmed: None,
        });
    }

    /// The session of `qrcode`.
    pub fn find(&self, qrcode: &str) -> Option<&QrSession> {
        self.sessions.iter().find(|s| s.qrcode == qrcode)
    }

    /// The session of `qrcode`, to change it.
    pub fn find_mut(&mut self, qrcode: &str) -> Option<&mut QrSession> {
        self.sessions.iter_mut().find(|s| s.qrcode == qrcode)
    }

    /// The session of `qrcode`, or the newest one when `qrcode` is `None`.
    pub fn find_or_newest(&mut self, qrcode: Option<&str>) -> Option<&mut QrSession> {
        match qrcode {
            Some(q) => self.find_mut(q),
            None => self.sessions.last_mut(),
        }
    }
}

/// What the person with the phone does next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum QrAction {
    /// Scans the code: `scaned`.
    #[default]
    Scan,
    /// Confirms the login: `confirmed` and an account is created (or its token renewed).
    Confirm {
        /// Bot id; a fresh `qr-bot-N@im.bot` when absent.
        #[serde(default)]
        bot_id: Option<String>,
        /// Token; a fresh `<bot_id>:<secret>` when absent.
        #[serde(default)]
        bot_token: Option<String>,
        /// `baseurl` returned; the simulator's base URL when absent.
        #[serde(default)]
        base_url: Option<String>,
        /// `ilink_user_id` returned; `SimConfig::qr_owner_user_id` when absent.
        #[serde(default)]
        ilink_user_id: Option<String>,
    },
    /// The code expires: `expired`.
    Expire,
    /// The phone shows a number that must be entered: `need_verifycode`.
    NeedVerifyCode {
        /// The number the client must send as `verify_code`.
        code: String,
    },
    /// Too many wrong codes: `verify_code_blocked`.
    BlockVerifyCode,
    /// `scaned_but_redirect` to another host (the simulator's second listener by default).
    Redirect {
        /// `host:port` to redirect to.
        #[serde(default)]
        host: Option<String>,
    },
    /// `binded_redirect`: the bot is already bound.
    BindedRedirect,
}

impl QrSession {
    fn set(&mut self, status: QrStatus) {
        self.status = status;
        self.version += 1;
    }

    /// The `get_qrcode_status` answer for the current status.
    pub fn response(&self) -> serde_json::Value {
        let mut body = json!({ "ret": 0, "status": self.status.as_str() });
        if let Some(c) = &self.confirmed {
            body["bot_token"] = c.bot_token.clone().into();
            body["ilink_bot_id"] = c.bot_id.clone().into();
            body["baseurl"] = c.baseurl.clone().into();
            body["ilink_user_id"] = c.user_id.clone().into();
        }
        if let Some(h) = &self.redirect_host {
            body["redirect_host"] = h.clone().into();
        }
        body
    }

    /// The answer for a status the client has not seen yet, marking it seen.
    pub fn take_change(&mut self) -> Option<serde_json::Value> {
        (self.version != self.reported).then(|| {
            self.reported = self.version;
            self.response()
        })
    }

    /// A `verify_code` the client sent: right moves on to `scaned`, wrong asks again
    /// until `max_attempts` wrong codes block the login.
    pub fn enter_verify_code(&mut self, code: &str, max_attempts: u32) {
        if self.status != QrStatus::NeedVerifyCode {
            return;
        }
        if self.verify_code.as_deref() == Some(code) {
            self.verify_code = None;
            self.set(QrStatus::Scanned);
        } else {
            self.wrong_codes += 1;
            let next = if self.wrong_codes >= max_attempts {
                QrStatus::VerifyCodeBlocked
            } else {
                QrStatus::NeedVerifyCode
            };
            self.set(next);
        }
    }

    /// Moves to the status `action` leads to. The credentials of a `Confirm` come from
    /// the caller in `confirmed`, because issuing them means creating an account.
    pub fn apply(&mut self, action: QrAction, alt_host: &str, confirmed: Option<Confirmed>) {
        let status = match action {
            QrAction::Scan => QrStatus::Scanned,
            QrAction::Expire => QrStatus::Expired,
            QrAction::BlockVerifyCode => QrStatus::VerifyCodeBlocked,
            QrAction::BindedRedirect => QrStatus::BindedRedirect,
            QrAction::NeedVerifyCode { code } => {
                self.verify_code = Some(code);
                self.wrong_codes = 0;
                QrStatus::NeedVerifyCode
            }
            QrAction::Redirect { host } => {
                self.redirect_host = Some(host.unwrap_or_else(|| alt_host.to_owned()));
                QrStatus::ScannedButRedirect
            }
            QrAction::Confirm { .. } => {
                self.confirmed = confirmed;
                QrStatus::Confirmed
            }
        };
        self.set(status);
    }
}
