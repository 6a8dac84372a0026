//! CDN media transfers: encrypting and uploading a blob, downloading and
//! decrypting one, and choosing the right key for an inbound item.
//!
//! ```
//! use ilink_core::cdn::prepare_upload;
//! let prepared = prepare_upload(b"hello");
//! assert_eq!(prepared.rawsize, 5);
//! assert_eq!(prepared.filesize, 16);
//! assert_eq!(prepared.key.decrypt(&prepared.ciphertext).unwrap(), b"hello");
//! ```

use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tracing::Instrument as _;

use crate::config::join_url;
use crate::crypto::{AesKey, md5_hex, random_filekey};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::retry::Backoff;
use crate::secret::Secret;
use crate::transport::{read_limited, status_error, transport_error};
use crate::types::{CdnMedia, ItemType, MessageItem};

/// Tries per transfer (the first one included).
pub const MAX_TRIES: u32 = 3;
/// Header of a successful upload: the download parameter.
pub const ENCRYPTED_PARAM_HEADER: &str = "x-encrypted-param";
/// Header carrying the reason of a refused upload.
pub const ERROR_MESSAGE_HEADER: &str = "x-error-message";

/// Waits between tries of a transfer.
const RETRY: Backoff = Backoff::new(Duration::from_millis(200))
    .max_delay(Duration::from_secs(2))
    .max_retries(MAX_TRIES - 1);

/// A plaintext made ready for the CDN: sizes, digest, key and ciphertext.
#[derive(Clone)]
pub struct PreparedUpload {
    /// Random 32 hex chars naming the upload.
    pub filekey: String,
    /// Fresh AES-128 key.
    pub key: AesKey,
    /// Plaintext size.
    pub rawsize: u64,
    /// Hex MD5 of the plaintext.
    pub rawfilemd5: String,
    /// Ciphertext size.
    pub filesize: u64,
    /// The encrypted bytes to upload.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for PreparedUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedUpload")
            .field("filekey", &self.filekey)
            .field("key", &self.key)
            .field("rawsize", &self.rawsize)
            .field("rawfilemd5", &self.rawfilemd5)
            .field("filesize", &self.filesize)
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .finish()
    }
}

/// Encrypts a plaintext with a fresh key and describes it for `getuploadurl`.
pub fn prepare_upload(plaintext: &[u8]) -> PreparedUpload {
    let key = AesKey::random();
    let ciphertext = key.encrypt(plaintext);
    PreparedUpload {
        filekey: random_filekey(),
        rawsize: plaintext.len() as u64,
        rawfilemd5: md5_hex(plaintext),
        filesize: ciphertext.len() as u64,
        ciphertext,
        key,
    }
}

/// Uploads a ciphertext and returns the download parameter (`x-encrypted-param`).
///
/// Posts to `upload_full_url` when the server gave one (needed above ~50 KB),
/// else to `<cdn>/upload?encrypted_query_param=…&filekey=…`. A 4xx fails at
/// once with the server's `x-error-message`; 5xx and network failures are
/// tried [`MAX_TRIES`] times in all, each within `timeout` (the client's
/// is [`crate::ApiConfig::timeout`] of [`Endpoint::CdnUpload`]).
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    http: &reqwest::Client,
    cdn_base: &str,
    upload_full_url: Option<&Secret>,
    upload_param: Option<&Secret>,
    filekey: &str,
    ciphertext: Vec<u8>,
    timeout: std::time::Duration,
) -> Result<Secret> {
    let endpoint = Endpoint::CdnUpload;
    let url = match (upload_full_url.filter(|u| !u.is_empty()), upload_param) {
        (Some(full), _) => full.expose().to_owned(),
        (None, Some(param)) => {
            let mut url = url::Url::parse(&join_url(cdn_base, endpoint.path()))
                .map_err(|e| Error::InvalidInput(format!("CDN base URL is not a URL: {e}")))?;
            url.query_pairs_mut()
                .append_pair("encrypted_query_param", param.expose())
                .append_pair("filekey", filekey);
            url.to_string()
        }
        (None, None) => {
            return Err(Error::InvalidInput(
                "getuploadurl returned neither upload_full_url nor upload_param".into(),
            ));
        }
    };
    let body = bytes::Bytes::from(ciphertext);
    let span = tracing::debug_span!("ilink.cdn", endpoint = endpoint.name(), bytes = body.len());
    with_retries(endpoint, || async {
        let response = http
            .post(&url)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .timeout(timeout)
            .body(body.clone())
            .send()
            .await
            .map_err(|e| transport_error(endpoint, e))?;
        let status = response.status().as_u16();
        if status != 200 {
            let header = response
                .headers()
                .get(ERROR_MESSAGE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Err(status_error(endpoint, status, response, header).await);
        }
        let param = response
            .headers()
            .get(ENCRYPTED_PARAM_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        param.ok_or_else(|| Error::Decode {
            endpoint,
            message: format!("upload answered 200 without the {ENCRYPTED_PARAM_HEADER} header"),
            body: String::new(),
        })
    })
    .instrument(span)
    .await
}

/// Downloads the ciphertext of a media reference: `full_url` when present,
/// else `<cdn>/download?encrypted_query_param=…`.
///
/// A body larger than `max_bytes` fails with [`Error::DownloadTooLarge`]
/// without being buffered (see [`crate::ApiConfig::max_download_bytes`]).
/// Each try has `timeout` (the client's is [`crate::ApiConfig::timeout`] of
/// [`Endpoint::CdnDownload`]).
pub async fn download(
    http: &reqwest::Client,
    cdn_base: &str,
    media: &CdnMedia,
    max_bytes: u64,
    timeout: std::time::Duration,
) -> Result<Vec<u8>> {
    let endpoint = Endpoint::CdnDownload;
    let url = match (&media.full_url, &media.encrypt_query_param) {
        (Some(full), _) if !full.is_empty() => full.expose().to_owned(),
        (_, Some(param)) if !param.is_empty() => {
            let mut url = url::Url::parse(&join_url(cdn_base, endpoint.path()))
                .map_err(|e| Error::InvalidInput(format!("CDN base URL is not a URL: {e}")))?;
            url.query_pairs_mut()
                .append_pair("encrypted_query_param", param.expose());
            url.to_string()
        }
        _ => {
            return Err(Error::Media(
                "media has neither full_url nor encrypt_query_param".into(),
            ));
        }
    };
    with_retries(endpoint, || async {
        let response = http
            .get(&url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(endpoint, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(status_error(endpoint, status, response, None).await);
        }
        read_limited(endpoint, response, max_bytes, || Error::DownloadTooLarge {
            limit: max_bytes,
        })
        .await
    })
    .await
}

/// The SILK payload of a decrypted voice note: inbound SILK may start with a
/// `0x02` byte before the `#!SILK` header, which decoders reject.
///
/// ```
/// use ilink_core::cdn::silk_payload;
/// assert_eq!(silk_payload(b"\x02#!SILK_V3rest"), b"#!SILK_V3rest");
/// assert_eq!(silk_payload(b"#!SILK_V3rest"), b"#!SILK_V3rest");
/// assert_eq!(silk_payload(b"\x02other"), b"\x02other");
/// ```
pub fn silk_payload(bytes: &[u8]) -> &[u8] {
    match bytes.split_first() {
        Some((0x02, rest)) if rest.starts_with(b"#!SILK") => rest,
        _ => bytes,
    }
}

/// The media reference of an item and the key that decrypts it.
///
/// Images prefer `image_item.aeskey` (hex); otherwise `media.aes_key` is
/// read in either of its encodings.
pub fn item_media(item: &MessageItem) -> Result<(&CdnMedia, AesKey)> {
    let (media, hex_key) = match item.item_type {
        ItemType::Image => {
            let image = item.image_item.as_ref();
            (
                image.and_then(|i| i.media.as_ref()),
                image.and_then(|i| i.aeskey.as_ref()),
            )
        }
        ItemType::Voice => (
            item.voice_item.as_ref().and_then(|v| v.media.as_ref()),
            None,
        ),
        ItemType::File => (item.file_item.as_ref().and_then(|f| f.media.as_ref()), None),
        ItemType::Video => (
            item.video_item.as_ref().and_then(|v| v.media.as_ref()),
            None,
        ),
        other => {
            return Err(Error::Media(format!(
                "item of type {} carries no media",
                other.code()
            )));
        }
    };
    let media = media.ok_or_else(|| Error::Media("media item has no media reference".into()))?;
    let key = match hex_key.filter(|k| !k.is_empty()) {
        Some(hex_key) => AesKey::from_hex(hex_key.expose())?,
        None => {
            let encoded = media
                .aes_key
                .as_ref()
                .filter(|k| !k.is_empty())
                .ok_or_else(|| Error::Media("media has no aes_key".into()))?;
            AesKey::from_media_key(encoded.expose())?
        }
    };
    Ok((media, key))
}

/// Downloads and decrypts the media of an inbound item; `max_bytes` limits
/// the download and `timeout` each try, as in [`download`].
pub async fn download_item(
    http: &reqwest::Client,
    cdn_base: &str,
    item: &MessageItem,
    max_bytes: u64,
    timeout: std::time::Duration,
) -> Result<Vec<u8>> {
    let (media, key) = item_media(item)?;
    let ciphertext = download(http, cdn_base, media, max_bytes, timeout).await?;
    key.decrypt(&ciphertext)
}

async fn with_retries<T, F, Fut>(endpoint: Endpoint, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        let started = std::time::Instant::now();
        let result = attempt().await;
        let status = match &result {
            Err(Error::HttpStatus { status, .. }) => Some(*status),
            _ => None,
        };
        tracing::debug!(
            endpoint = endpoint.name(),
            try_ = tries,
            status,
            ok = result.is_ok(),
            duration_ms = started.elapsed().as_millis() as u64,
            "cdn transfer"
        );
        match result {
            Err(e) if is_transient(&e) => match RETRY.delay(tries) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(e),
            },
            other => return other,
        }
    }
}

fn is_transient(e: &Error) -> bool {
    match e {
        Error::Transport { .. } => true,
        Error::HttpStatus { status, .. } => *status >= 500,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FileItem, ImageItem};

    fn media_with(key: Option<String>) -> CdnMedia {
        CdnMedia {
            encrypt_query_param: Some(Secret::new("p")),
            aes_key: key.map(Secret::new),
            ..CdnMedia::default()
        }
    }

    #[test]
    fn images_prefer_the_hex_key() {
        let right = AesKey::random();
        let wrong = AesKey::random();
        let item = MessageItem::image(ImageItem {
            media: Some(media_with(Some(wrong.to_media_key()))),
            aeskey: Some(Secret::new(right.to_hex())),
            ..ImageItem::default()
        });
        assert_eq!(item_media(&item).unwrap().1, right);
    }

    #[test]
    fn media_keys_are_read_in_both_encodings() {
        let key = AesKey::random();
        for encoded in [key.to_media_key(), key.to_raw_base64()] {
            let item = MessageItem::file(FileItem {
                media: Some(media_with(Some(encoded))),
                ..FileItem::default()
            });
            assert_eq!(item_media(&item).unwrap().1, key);
        }
    }

    #[test]
    fn unusable_items_are_errors() {
        assert!(item_media(&MessageItem::text("hi")).is_err());
        let no_key = MessageItem::file(FileItem {
            media: Some(media_with(None)),
            ..FileItem::default()
        });
        assert!(item_media(&no_key).is_err());
        let garbage = MessageItem::file(FileItem {
            media: Some(media_with(Some("@@not base64@@".into()))),
            ..FileItem::default()
        });
        assert!(matches!(item_media(&garbage), Err(Error::Media(_))));
        assert!(item_media(&MessageItem::file(FileItem::default())).is_err());
    }

    #[test]
    fn prepared_upload_debug_hides_bytes() {
        let p = prepare_upload(&[7u8; 100]);
        let s = format!("{p:?}");
        assert!(s.contains("<112 bytes>"), "{s}");
        assert_eq!(p.filesize, 112);
        assert_eq!(p.rawfilemd5, md5_hex(&[7u8; 100]));
    }

    async fn serve(body: Vec<u8>, with_length: bool) -> String {
        use axum::body::Body;
        use axum::response::Response;
        let app = axum::Router::new().route(
            "/blob",
            axum::routing::get(move || {
                let body = body.clone();
                async move {
                    if with_length {
                        Response::new(Body::from(body))
                    } else {
                        // A stream has no Content-Length, so the cap must hold while reading.
                        let stream = futures::stream::iter(
                            body.chunks(8)
                                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                                .collect::<Vec<_>>(),
                        );
                        Response::new(Body::from_stream(stream))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/blob")
    }

    #[tokio::test]
    async fn downloads_over_the_limit_are_refused() {
        let http = reqwest::Client::new();
        let too_large = || Error::DownloadTooLarge { limit: 32 };
        let read = |url: String, limit| {
            let http = http.clone();
            async move {
                let response = http.get(&url).send().await.unwrap();
                read_limited(Endpoint::CdnDownload, response, limit, too_large).await
            }
        };
        for with_length in [true, false] {
            let url = serve(vec![7u8; 64], with_length).await;
            assert_eq!(read(url.clone(), 64).await.unwrap().len(), 64);
            let err = read(url, 32).await.unwrap_err();
            assert!(
                matches!(err, Error::DownloadTooLarge { limit: 32 }),
                "{err}"
            );
        }
    }
}
