//! What the simulated CDN holds: ciphertext by download parameter, the uploads that
//! `getuploadurl` announced, and the verified uploads. The HTTP side is in
//! [`cdn`](crate::cdn); this module knows nothing of requests or the rest of the state.

use std::collections::HashMap;

use axum::body::Bytes;
use ilink_core::Secret;
use ilink_core::crypto::{AesKey, md5_hex};
use ilink_core::types::{CdnMedia, MessageItem};

use crate::config::KeyEncoding;
use crate::error::SimError;

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

/// An upload announced by `getuploadurl`; the ciphertext must match it.
#[derive(Clone)]
pub(crate) struct PendingUpload {
    pub bot_id: String,
    pub to_user_id: String,
    pub media_type: i64,
    pub filekey: String,
    pub key: AesKey,
    pub rawsize: u64,
    pub rawfilemd5: String,
    pub filesize: u64,
}

impl PendingUpload {
    /// Checks an uploaded body against the announcement and returns the plaintext, or
    /// what is wrong with it.
    pub fn verify(&self, filekey: Option<&str>, body: &[u8]) -> Result<Vec<u8>, String> {
        if filekey != Some(self.filekey.as_str()) {
            return Err("filekey does not match getuploadurl".into());
        }
        if body.len() as u64 != self.filesize {
            return Err(format!(
                "body of {} bytes, announced filesize {}",
                body.len(),
                self.filesize
            ));
        }
        let Ok(plain) = self.key.decrypt(body) else {
            return Err("ciphertext does not decrypt with the announced aeskey".into());
        };
        if plain.len() as u64 != self.rawsize {
            return Err(format!(
                "plaintext of {} bytes, announced rawsize {}",
                plain.len(),
                self.rawsize
            ));
        }
        if md5_hex(&plain) != self.rawfilemd5 {
            return Err("plaintext MD5 does not match rawfilemd5".into());
        }
        Ok(plain)
    }
}

/// Everything the CDN holds.
#[derive(Default)]
pub(crate) struct CdnStore {
    /// Ciphertext by download parameter.
    media: HashMap<String, Bytes>,
    /// Announced uploads by upload parameter.
    pending: HashMap<String, PendingUpload>,
    pub uploads: Vec<UploadedMedia>,
}

impl CdnStore {
    /// Remembers an announced upload under its upload parameter.
    pub fn announce(&mut self, upload_param: String, upload: PendingUpload) {
        self.pending.insert(upload_param, upload);
    }

    /// The upload announced under `upload_param`.
    pub fn pending(&self, upload_param: &str) -> Option<&PendingUpload> {
        self.pending.get(upload_param)
    }

    /// Stores a verified upload: its ciphertext becomes downloadable under `download_param`.
    pub fn accept(
        &mut self,
        upload: &PendingUpload,
        plaintext: Vec<u8>,
        ciphertext: Bytes,
        download_param: String,
        via_full_url: bool,
    ) {
        self.uploads.push(UploadedMedia {
            bot_id: upload.bot_id.clone(),
            to_user_id: upload.to_user_id.clone(),
            media_type: upload.media_type,
            filekey: upload.filekey.clone(),
            plaintext: Bytes::from(plaintext),
            download_param: Secret::new(download_param.clone()),
            via_full_url,
        });
        self.media.insert(download_param, ciphertext);
    }

    /// The ciphertext stored under `download_param`.
    pub fn ciphertext(&self, download_param: &str) -> Option<Bytes> {
        self.media.get(download_param).cloned()
    }

    /// Encrypts `plaintext` with a fresh key, stores it under `download_param`, and
    /// returns the `media` object a message carries plus the key and the ciphertext size.
    pub fn store_inbound(
        &mut self,
        download_param: String,
        plaintext: &[u8],
        encoding: KeyEncoding,
        full_url: Option<String>,
    ) -> (CdnMedia, AesKey, u64) {
        let key = AesKey::random();
        let ct = key.encrypt(plaintext);
        let size = ct.len() as u64;
        self.media.insert(download_param.clone(), Bytes::from(ct));
        let aes_key = match encoding {
            KeyEncoding::HexBase64 => key.to_media_key(),
            KeyEncoding::RawBase64 => key.to_raw_base64(),
        };
        let media = CdnMedia {
            encrypt_query_param: Some(Secret::new(download_param)),
            aes_key: Some(Secret::new(aes_key)),
            encrypt_type: Some(1),
            full_url: full_url.map(Secret::new),
            extra: Default::default(),
        };
        (media, key, size)
    }

    /// Fetches and decrypts the media of an item, the way a client would (image
    /// `aeskey` hex first, else `media.aes_key` in either encoding).
    pub fn decrypt_item(&self, item: &MessageItem) -> Result<Vec<u8>, SimError> {
        let (media, hex_key) =
            media_of(item).ok_or_else(|| SimError::Media("item carries no media".into()))?;
        let param = media
            .encrypt_query_param
            .as_ref()
            .ok_or_else(|| SimError::Media("media has no encrypt_query_param".into()))?;
        let stored = self
            .media
            .get(param.expose())
            .ok_or_else(|| SimError::Media("the CDN holds no such media".into()))?;
        let key = match (hex_key, &media.aes_key) {
            (Some(h), _) => AesKey::from_hex(h.expose()),
            (None, Some(k)) => AesKey::from_media_key(k.expose()),
            (None, None) => return Err(SimError::Media("media has no key".into())),
        }
        .map_err(|e| SimError::Media(e.to_string()))?;
        key.decrypt(stored)
            .map_err(|e| SimError::Media(e.to_string()))
    }
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
