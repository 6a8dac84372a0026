//! The simulated CDN under `<server>/c2c`: `getuploadurl`, the encrypted upload (checked
//! against what was announced: `filesize`, `rawsize`, `rawfilemd5`, the key), the
//! download of ciphertext, and encryption of media that scripted users send.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ilink_core::Secret;
use ilink_core::crypto::{AesKey, ciphertext_size, md5_hex};
use ilink_core::types::{CdnMedia, GetUploadUrlRequest, MessageItem};
use serde_json::json;

use crate::auth::{check_bot_request, ret_error};
use crate::config::KeyEncoding;
use crate::error::SimError;
use crate::records::ViolationKind;
use crate::state::{Inner, Shared};

/// A media file the bot uploaded, decrypted and verified by the simulator.
#[derive(Clone)]
pub struct UploadedMedia {
    /// The bot account that uploaded it.
    pub bot_id: String,
    /// `to_user_id` announced in `getuploadurl`.
    pub to_user_id: String,
    /// `media_type` announced (1 image, 2 video, 3 file, 4 voice).
    pub media_type: i64,
    /// The `filekey` announced.
    pub filekey: String,
    /// The decrypted content.
    pub plaintext: Bytes,
    /// The download parameter the CDN returned (`x-encrypted-param`).
    pub download_param: Secret,
    /// Whether the upload went to `upload_full_url` rather than the fallback URL.
    pub via_full_url: bool,
}

impl std::fmt::Debug for UploadedMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadedMedia")
            .field("bot_id", &self.bot_id)
            .field("to_user_id", &self.to_user_id)
            .field("media_type", &self.media_type)
            .field("bytes", &self.plaintext.len())
            .field("via_full_url", &self.via_full_url)
            .finish()
    }
}

#[derive(Clone)]
struct PendingUpload {
    bot_id: String,
    to_user_id: String,
    media_type: i64,
    filekey: String,
    key: AesKey,
    rawsize: u64,
    rawfilemd5: String,
    filesize: u64,
}

struct StoredMedia {
    ciphertext: Bytes,
}

/// Everything the CDN holds.
#[derive(Default)]
pub(crate) struct CdnStore {
    media: HashMap<String, StoredMedia>,
    pending: HashMap<String, PendingUpload>,
    pub uploads: Vec<UploadedMedia>,
}

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
        let req: GetUploadUrlRequest = match serde_json::from_value(call.body) {
            Ok(r) => r,
            Err(e) => return bad_upload(i, &bot, format!("invalid getuploadurl body: {e}")),
        };
        let Ok(key) = AesKey::from_hex(req.aeskey.expose()) else {
            return bad_upload(i, &bot, "aeskey is not 32 hex characters".into());
        };
        if req.filesize != ciphertext_size(req.rawsize) {
            return bad_upload(
                i,
                &bot,
                format!(
                    "filesize {} is not the ciphertext size of rawsize {}",
                    req.filesize, req.rawsize
                ),
            );
        }
        if req.filekey.is_empty() || req.rawfilemd5.len() != 32 {
            return bad_upload(i, &bot, "filekey empty or rawfilemd5 not an MD5 hex".into());
        }
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
            i.cdn.pending.insert(
                tp.clone(),
                PendingUpload {
                    bot_id: bot.clone(),
                    to_user_id: req.to_user_id.clone(),
                    media_type: 1,
                    filekey: req.filekey.clone(),
                    key,
                    rawsize: raw,
                    rawfilemd5: md5,
                    filesize: req.thumb_filesize.unwrap_or(ciphertext_size(raw)),
                },
            );
        }
        i.cdn.pending.insert(
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
        let Some(p) = i.cdn.pending.get(&param).cloned() else {
            return cdn_error(
                StatusCode::BAD_REQUEST,
                "unknown or missing encrypted_query_param",
            );
        };
        let bot = p.bot_id.clone();
        let fail = |i: &mut Inner, detail: String| {
            i.violation(
                Some(&bot),
                Some("cdn upload"),
                ViolationKind::BadUpload,
                detail.clone(),
            );
            cdn_error(StatusCode::BAD_REQUEST, &detail)
        };
        if q.get("filekey") != Some(&p.filekey) {
            return fail(i, "filekey does not match getuploadurl".into());
        }
        if body.len() as u64 != p.filesize {
            let d = format!(
                "body of {} bytes, announced filesize {}",
                body.len(),
                p.filesize
            );
            return fail(i, d);
        }
        let Ok(plain) = p.key.decrypt(&body) else {
            return fail(
                i,
                "ciphertext does not decrypt with the announced aeskey".into(),
            );
        };
        if plain.len() as u64 != p.rawsize {
            let d = format!(
                "plaintext of {} bytes, announced rawsize {}",
                plain.len(),
                p.rawsize
            );
            return fail(i, d);
        }
        if md5_hex(&plain) != p.rawfilemd5 {
            return fail(i, "plaintext MD5 does not match rawfilemd5".into());
        }
        let download = format!("dl-{}", i.random_token(24));
        let info = UploadedMedia {
            bot_id: p.bot_id.clone(),
            to_user_id: p.to_user_id.clone(),
            media_type: p.media_type,
            filekey: p.filekey.clone(),
            plaintext: Bytes::from(plain),
            download_param: Secret::new(download.clone()),
            via_full_url: q.contains_key("full"),
        };
        i.cdn.uploads.push(info);
        i.cdn
            .media
            .insert(download.clone(), StoredMedia { ciphertext: body });
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
    match sh.read(|i| i.cdn.media.get(&param).map(|m| m.ciphertext.clone())) {
        Some(ct) => ([(header::CONTENT_TYPE, "application/octet-stream")], ct).into_response(),
        None => cdn_error(StatusCode::NOT_FOUND, "no such media"),
    }
}

/// Encrypts `plaintext` with a fresh key, stores it, and returns the `media` object a
/// message carries plus the key and the ciphertext size.
pub(crate) fn store_inbound(
    i: &mut Inner,
    cdn_url: &str,
    plaintext: &[u8],
    encoding: KeyEncoding,
) -> (CdnMedia, AesKey, u64) {
    let key = AesKey::random();
    let ct = key.encrypt(plaintext);
    let size = ct.len() as u64;
    let param = format!("dl-{}", i.random_token(24));
    i.cdn.media.insert(
        param.clone(),
        StoredMedia {
            ciphertext: Bytes::from(ct),
        },
    );
    let aes_key = match encoding {
        KeyEncoding::HexBase64 => key.to_media_key(),
        KeyEncoding::RawBase64 => key.to_raw_base64(),
    };
    let full_url = i
        .config
        .inbound_full_url
        .then(|| Secret::new(format!("{cdn_url}/download?encrypted_query_param={param}")));
    let media = CdnMedia {
        encrypt_query_param: Some(Secret::new(param)),
        aes_key: Some(Secret::new(aes_key)),
        encrypt_type: Some(1),
        full_url,
        extra: Default::default(),
    };
    (media, key, size)
}

/// The media object of an item, whatever its kind, and the image's hex key if any.
fn media_of(item: &MessageItem) -> Option<(&CdnMedia, Option<&Secret>)> {
    if let Some(img) = &item.image_item {
        return img.media.as_ref().map(|m| (m, img.aeskey.as_ref()));
    }
    let media = item
        .voice_item
        .as_ref()
        .and_then(|v| v.media.as_ref())
        .or_else(|| item.file_item.as_ref().and_then(|f| f.media.as_ref()))
        .or_else(|| item.video_item.as_ref().and_then(|v| v.media.as_ref()))?;
    Some((media, None))
}

/// Fetches and decrypts the media of an item from the simulator's CDN, the way a
/// client would (image `aeskey` hex first, else `media.aes_key` in either encoding).
pub(crate) fn decrypt_item(i: &Inner, item: &MessageItem) -> Result<Vec<u8>, SimError> {
    let (media, hex_key) =
        media_of(item).ok_or_else(|| SimError::Media("item carries no media".into()))?;
    let param = media
        .encrypt_query_param
        .as_ref()
        .ok_or_else(|| SimError::Media("media has no encrypt_query_param".into()))?;
    let stored = i
        .cdn
        .media
        .get(param.expose())
        .ok_or_else(|| SimError::Media("the CDN holds no such media".into()))?;
    let key = match (hex_key, &media.aes_key) {
        (Some(h), _) => AesKey::from_hex(h.expose()),
        (None, Some(k)) => AesKey::from_media_key(k.expose()),
        (None, None) => return Err(SimError::Media("media has no key".into())),
    }
    .map_err(|e| SimError::Media(e.to_string()))?;
    key.decrypt(&stored.ciphertext)
        .map_err(|e| SimError::Media(e.to_string()))
}
