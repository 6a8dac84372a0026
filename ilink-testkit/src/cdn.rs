//! The simulated CDN's HTTP side under `<server>/c2c`: `getuploadurl`, the encrypted
//! upload (checked against what was announced: `filesize`, `rawsize`, `rawfilemd5`, the
//! key), the download of ciphertext, and encryption of media that scripted users send.
//! What the CDN holds is in [`media`](crate::media).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ilink_core::crypto::{AesKey, ciphertext_size};
use ilink_core::types::CdnMedia;
use serde_json::json;

use crate::auth::{check_bot_request, ret_error};
use crate::config::KeyEncoding;
use crate::media::PendingUpload;
use crate::records::ViolationKind;
use crate::request::Upload;
use crate::state::{Inner, Shared};

/// Routes of this module (besides `getuploadurl`, routed with the bot API).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/c2c/upload", post(upload))
        .route("/c2c/download", get(download))
}

fn bad_upload(i: &mut Inner, bot: &str, detail: String) -> Response {
    i.violation(
        Some(bot),
        Some("getuploadurl"),
        ViolationKind::BadUpload,
        detail.clone(),
    );
    ret_error(-3, &detail)
}

pub(crate) async fn getuploadurl(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match check_bot_request(&sh, "getuploadurl", &headers, &body) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let cdn = sh.cdn_url();
    let bot = call.bot_id;
    sh.with(|i| {
        let Upload { request: req, key } = match crate::request::upload_request(call.body) {
            Ok(upload) => upload,
            Err(detail) => return bad_upload(i, &bot, detail),
        };
        let param = format!("up-{}", i.random_token(24));
        let full_url = format!(
            "{cdn}/upload?encrypted_query_param={param}&filekey={}&full=1",
            req.filekey
        );
        let thumb_param = req
            .thumb_rawsize
            .filter(|_| !req.no_need_thumb)
            .map(|_| format!("up-{}", i.random_token(24)));
        if let (Some(tp), Some(raw), Some(md5)) = (
            &thumb_param,
            req.thumb_rawsize,
            req.thumb_rawfilemd5.clone(),
        ) {
            i.cdn.announce(
                tp.clone(),
                PendingUpload {
                    bot_id: bot.clone(),
                    to_user_id: req.to_user_id.clone(),
                    media_type: 1,
                    filekey: req.filekey.clone(),
                    key,
                    rawsize: raw,
                    rawfilemd5: md5,
                    // No upload has u64::MAX bytes: a thumbnail too large to
                    // encrypt is refused when it arrives.
                    filesize: req
                        .thumb_filesize
                        .or(ciphertext_size(raw))
                        .unwrap_or(u64::MAX),
                },
            );
        }
        i.cdn.announce(
            param.clone(),
            PendingUpload {
                bot_id: bot.clone(),
                to_user_id: req.to_user_id,
                media_type: req.media_type.map(|t| t.code()).unwrap_or(0),
                filekey: req.filekey,
                key,
                rawsize: req.rawsize,
                rawfilemd5: req.rawfilemd5.to_ascii_lowercase(),
                filesize: req.filesize,
            },
        );
        let mut res = json!({ "ret": 0, "upload_param": param });
        if let Some(tp) = thumb_param {
            res["thumb_upload_param"] = tp.into();
        }
        if i.config.upload_full_url {
            res["upload_full_url"] = full_url.into();
        }
        Json(res).into_response()
    })
}

fn cdn_error(status: StatusCode, msg: &str) -> Response {
    let mut res = (status, msg.to_owned()).into_response();
    if let Ok(v) = HeaderValue::from_str(msg) {
        res.headers_mut().insert("x-error-message", v);
    }
    res
}

async fn upload(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let param = q.get("encrypted_query_param").cloned().unwrap_or_default();
    sh.with(|i| {
        let Some(p) = i.cdn.pending(&param).cloned() else {
            return cdn_error(
                StatusCode::BAD_REQUEST,
                "unknown or missing encrypted_query_param",
            );
        };
        let plain = match p.verify(q.get("filekey").map(String::as_str), &body) {
            Ok(plain) => plain,
            Err(detail) => {
                i.violation(
                    Some(&p.bot_id),
                    Some("cdn upload"),
                    ViolationKind::BadUpload,
                    detail.clone(),
                );
                return cdn_error(StatusCode::BAD_REQUEST, &detail);
            }
        };
        let download = format!("dl-{}", i.random_token(24));
        i.cdn
            .accept(&p, plain, body, download.clone(), q.contains_key("full"));
        let mut res = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(&download) {
            res.headers_mut().insert("x-encrypted-param", v);
        }
        res
    })
}

async fn download(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = q.get("encrypted_query_param").cloned().unwrap_or_default();
    match sh.read(|i| i.cdn.ciphertext(&param)) {
        Some(ct) => ([(header::CONTENT_TYPE, "application/octet-stream")], ct).into_response(),
        None => cdn_error(StatusCode::NOT_FOUND, "no such media"),
    }
}

/// Encrypts `plaintext` for a scripted user's message and stores it on the CDN; returns
/// the `media` object, the key and the ciphertext size.
pub(crate) fn store_inbound(
    i: &mut Inner,
    cdn_url: &str,
    plaintext: &[u8],
    encoding: KeyEncoding,
) -> (CdnMedia, AesKey, u64) {
    let param = format!("dl-{}", i.random_token(24));
    let full_url = i
        .config
        .inbound_full_url
        .then(|| format!("{cdn_url}/download?encrypted_query_param={param}"));
    i.cdn.store_inbound(param, plaintext, encoding, full_url)
}
