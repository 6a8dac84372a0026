//! AES-128-ECB with PKCS#7, the CDN's media encryption, and the two ways the
//! protocol encodes a key.
//!
//! ```
//! use ilink_core::crypto::{AesKey, ciphertext_size};
//! let key = AesKey::random();
//! let sealed = key.encrypt(b"hello");
//! assert_eq!(Some(sealed.len() as u64), ciphertext_size(5));
//! assert_eq!(key.decrypt(&sealed).unwrap(), b"hello");
//! ```

use std::fmt;

use aes::Aes128;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ecb::cipher::block_padding::Pkcs7;
use ecb::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit};
use md5::{Digest, Md5};
use rand::RngCore;

use crate::error::{Error, Result};

/// A 16-byte AES-128 key. `Debug` never shows it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AesKey([u8; 16]);

impl AesKey {
    /// A fresh random key from the OS generator.
    pub fn random() -> Self {
        let mut k = [0u8; 16];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }

    /// A key from its 16 raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses 32 hex characters (as in `image_item.aeskey` and `getuploadurl`).
    pub fn from_hex(hex_key: &str) -> Result<Self> {
        let raw = hex::decode(hex_key.trim())
            .map_err(|_| Error::Media("AES key is not valid hex".into()))?;
        Self::from_slice(&raw)
    }

    /// Parses a media `aes_key`: base64 of 16 raw bytes, or base64 of a
    /// 32-character hex string (decoded twice). Anything else is an error.
    pub fn from_media_key(b64: &str) -> Result<Self> {
        let raw = BASE64
            .decode(b64.trim())
            .map_err(|_| Error::Media("aes_key is not valid base64".into()))?;
        match raw.len() {
            16 => Self::from_slice(&raw),
            32 => {
                let text = std::str::from_utf8(&raw).map_err(|_| {
                    Error::Media("aes_key decodes to 32 bytes that are not hex".into())
                })?;
                Self::from_hex(text)
            }
            n => Err(Error::Media(format!(
                "aes_key decodes to {n} bytes; expected 16 raw bytes or 32 hex characters"
            ))),
        }
    }

    fn from_slice(raw: &[u8]) -> Result<Self> {
        let arr: [u8; 16] = raw
            .try_into()
            .map_err(|_| Error::Media(format!("AES key is {} bytes; expected 16", raw.len())))?;
        Ok(Self(arr))
    }

    /// Lowercase hex (32 chars), as sent in `getuploadurl.aeskey`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `aes_key` of an outbound media reference: base64 of the hex string.
    pub fn to_media_key(&self) -> String {
        BASE64.encode(self.to_hex())
    }

    /// The alternative encoding some senders use: base64 of the raw bytes.
    pub fn to_raw_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Encrypts with AES-128-ECB and PKCS#7 padding.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        ecb::Encryptor::<Aes128>::new(&self.0.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
    }

    /// Decrypts AES-128-ECB with PKCS#7; a wrong key or damaged data is an error.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
            return Err(Error::Media(format!(
                "ciphertext of {} bytes is not a whole number of AES blocks",
                ciphertext.len()
            )));
        }
        ecb::Decryptor::<Aes128>::new(&self.0.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|_| Error::Media("decryption failed: wrong key or corrupted data".into()))
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// Ciphertext size for a plaintext of `rawsize` bytes: `(rawsize / 16 + 1) * 16`,
/// or `None` when that does not fit in a `u64`. No such plaintext exists, but
/// a peer may announce one (`getuploadurl.rawsize`), so it is an answer, not
/// an overflow.
pub fn ciphertext_size(rawsize: u64) -> Option<u64> {
    (rawsize / 16).checked_add(1)?.checked_mul(16)
}

/// Lowercase hex MD5 of `data`.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// A random `filekey`: 32 lowercase hex characters.
pub fn random_filekey() -> String {
    let mut k = [0u8; 16];
    rand::rng().fill_bytes(&mut k);
    hex::encode(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    // FIPS-197 / NIST SP 800-38A ECB-AES128 vector, block 1.
    const NIST_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const NIST_PT: &str = "6bc1bee22e409f96e93d7e117393172a";
    const NIST_CT: &str = "3ad77bb40d7a3660a89ecaf32466ef97";

    #[test]
    fn known_answer_vector() {
        let key = AesKey::from_hex(NIST_KEY).unwrap();
        let ct = key.encrypt(&hex::decode(NIST_PT).unwrap());
        // One data block, then one full block of PKCS#7 padding.
        assert_eq!(hex::encode(&ct[..16]), NIST_CT);
        assert_eq!(ct.len(), 32);
        assert_eq!(key.decrypt(&ct).unwrap(), hex::decode(NIST_PT).unwrap());
    }

    #[test]
    fn size_formula() {
        for (raw, want) in [(0u64, 16u64), (15, 16), (16, 32), (17, 32)] {
            assert_eq!(ciphertext_size(raw), Some(want));
            let key = AesKey::random();
            let ct = key.encrypt(&vec![7u8; raw as usize]);
            assert_eq!(ct.len() as u64, want, "raw {raw}");
        }
    }

    #[test]
    fn both_media_key_encodings() {
        let key = AesKey::random();
        assert_eq!(AesKey::from_media_key(&key.to_media_key()).unwrap(), key);
        assert_eq!(AesKey::from_media_key(&key.to_raw_base64()).unwrap(), key);
        assert_eq!(AesKey::from_hex(&key.to_hex()).unwrap(), key);
    }

    #[test]
    fn sizes_past_u64_are_none() {
        // Found by fuzzing: the formula overflowed for the last 16 values.
        assert_eq!(ciphertext_size(u64::MAX - 16), Some(u64::MAX - 15));
        assert_eq!(ciphertext_size(u64::MAX - 15), None);
        assert_eq!(ciphertext_size(u64::MAX), None);
    }

    #[test]
    fn bad_keys_are_errors() {
        assert!(AesKey::from_media_key("!!!").is_err());
        assert!(AesKey::from_media_key(&BASE64.encode([1u8; 8])).is_err());
        assert!(AesKey::from_media_key(&BASE64.encode("z".repeat(32))).is_err());
        assert!(AesKey::from_hex("abcd").is_err());
    }

    #[test]
    fn bad_ciphertext_is_an_error() {
        let key = AesKey::random();
        assert!(key.decrypt(&[]).is_err());
        assert!(key.decrypt(&[0u8; 15]).is_err());
        let ct = key.encrypt(b"some data");
        assert!(
            AesKey::random().decrypt(&ct).is_err()
                || AesKey::random().decrypt(&ct).unwrap() != b"some data"
        );
    }

    #[test]
    fn md5_of_empty() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(random_filekey().len(), 32);
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(
            format!("{:?}", AesKey::from_bytes([9; 16])),
            "AesKey(<redacted>)"
        );
    }
}
