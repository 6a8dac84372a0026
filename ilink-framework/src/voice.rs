//! Voice notes as audio (the `voice` feature): SILK decoded to 16-bit PCM
//! and WAV.
//!
//! Inbound voice notes are SILK v3, and WeChat's start with a `0x02` byte
//! before the `#!SILK_V3` header; both forms are read. The audio is decoded by
//! the reference SILK codec (the `silk-codec` crate, which compiles its C
//! sources; its bindings need libclang at build time). The server's own
//! transcript needs no decoding: [`Message::voice_text`](crate::Message::voice_text).
//!
//! ```
//! use ilink_framework::voice::{VoiceError, decode_silk};
//!
//! assert!(matches!(decode_silk(b"", 24_000), Err(VoiceError::Empty)));
//! assert!(matches!(decode_silk(b"RIFF....", 24_000), Err(VoiceError::NoHeader)));
//! assert!(matches!(
//!     decode_silk(b"\x02#!SILK_V3\x20\x00\x01", 24_000),
//!     Err(VoiceError::Truncated { .. })
//! ));
//! ```

use std::io::Cursor;
use std::time::Duration;

use ilink_core::cdn::silk_payload;
use ilink_core::types::{MessageItem, VoiceEncoding};

use crate::context::Context;
use crate::error::SendError;

/// The header every SILK v3 stream starts with (after WeChat's `0x02`).
const HEADER: &[u8] = b"#!SILK_V3";

/// The sample rate of WeChat voice notes, used when an item does not say.
pub const DEFAULT_SAMPLE_RATE: u32 = 24_000;

/// The output sample rates the decoder produces, in Hz.
pub const SAMPLE_RATES: [u32; 6] = [8_000, 12_000, 16_000, 24_000, 32_000, 48_000];

/// Why a voice note could not be turned into audio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceError {
    /// Downloading the voice note failed.
    #[error("downloading the voice note failed: {0}")]
    Download(#[from] SendError),
    /// The item is not a voice note.
    #[error("the item is not a voice note")]
    NotVoice,
    /// The voice note is in another codec than SILK.
    #[error("the voice note is encoded as {0:?}, not SILK")]
    NotSilk(VoiceEncoding),
    /// No bytes at all.
    #[error("the voice note is empty")]
    Empty,
    /// The bytes do not start with the SILK header (`0x02` then `#!SILK_V3`,
    /// or `#!SILK_V3`).
    #[error("not SILK audio: no #!SILK_V3 header")]
    NoHeader,
    /// A frame's length runs past the end of the bytes.
    #[error("SILK audio truncated: the frame at byte {offset} needs {needed} bytes, {left} left")]
    Truncated {
        /// Where the frame starts, counted after the header.
        offset: usize,
        /// The bytes the frame needs, its 2-byte length included.
        needed: usize,
        /// The bytes left from `offset`.
        left: usize,
    },
    /// A frame declares more bytes than a frame can hold.
    #[error(
        "SILK frame at byte {offset} declares {declared} bytes, more than the {limit} a frame can hold"
    )]
    FrameTooLarge {
        /// Where the frame starts, counted after the header.
        offset: usize,
        /// The length it declares.
        declared: usize,
        /// The largest length accepted.
        limit: usize,
    },
    /// A header and no frames.
    #[error("the SILK audio has no frames")]
    NoFrames,
    /// The decoder cannot produce this sample rate.
    #[error("unsupported sample rate {0} Hz (supported: 8000, 12000, 16000, 24000, 32000, 48000)")]
    SampleRate(u32),
    /// The SILK decoder rejected a frame (damaged audio).
    #[error("the SILK decoder failed: {0}")]
    Codec(String),
    /// Writing the WAV file failed.
    #[error("writing WAV failed: {0}")]
    Wav(String),
}

/// Mono 16-bit PCM audio.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pcm {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples, one channel.
    pub samples: Vec<i16>,
}

impl Pcm {
    /// How long the audio plays (zero when `sample_rate` is 0).
    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        let nanos = self.samples.len() as u128 * 1_000_000_000 / u128::from(self.sample_rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The audio as a WAV file (mono, 16-bit, `sample_rate`).
    pub fn to_wav(&self) -> Result<Vec<u8>, VoiceError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let wav_error = |e: hound::Error| VoiceError::Wav(e.to_string());
        let mut out = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut out, spec).map_err(wav_error)?;
        for &sample in &self.samples {
            writer.write_sample(sample).map_err(wav_error)?;
        }
        writer.finalize().map_err(wav_error)?;
        Ok(out.into_inner())
    }
}

/// Decodes SILK v3 audio, with or without WeChat's `0x02` prefix, to PCM at
/// `sample_rate` (one of [`SAMPLE_RATES`]; WeChat's is 24000 Hz).
///
/// Bad input is an error, never a panic: empty bytes, a missing header, a
/// frame cut short or too long, no frames, or frames the decoder rejects. A
/// negative frame length ends the stream (the reference encoder's end mark).
pub fn decode_silk(bytes: &[u8], sample_rate: u32) -> Result<Pcm, VoiceError> {
    if !SAMPLE_RATES.contains(&sample_rate) {
        return Err(VoiceError::SampleRate(sample_rate));
    }
    if bytes.is_empty() {
        return Err(VoiceError::Empty);
    }
    let silk = silk_payload(bytes);
    let frames = silk.strip_prefix(HEADER).ok_or(VoiceError::NoHeader)?;
    // The decoder's output buffer holds 20 ms of samples, two bytes each,
    // and it refuses frames longer than that many bytes.
    let limit = sample_rate as usize / 1000 * 40;
    let end = frames_end(frames, limit)?;
    let decoded = silk_codec::decode_silk(&silk[..HEADER.len() + end], sample_rate as i32)
        .map_err(|e| VoiceError::Codec(e.to_string()))?;
    let samples = decoded
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    Ok(Pcm {
        sample_rate,
        samples,
    })
}

/// Checks the frames after the header (each a little-endian `i16` length and
/// that many bytes) and returns where they end.
fn frames_end(frames: &[u8], limit: usize) -> Result<usize, VoiceError> {
    let mut offset = 0;
    let mut count = 0;
    while offset < frames.len() {
        let left = frames.len() - offset;
        let Some(&[low, high]) = frames.get(offset..offset + 2) else {
            return Err(VoiceError::Truncated {
                offset,
                needed: 2,
                left,
            });
        };
        let Ok(declared) = usize::try_from(i16::from_le_bytes([low, high])) else {
            break; // the end mark
        };
        if declared > limit {
            return Err(VoiceError::FrameTooLarge {
                offset,
                declared,
                limit,
            });
        }
        if 2 + declared > left {
            return Err(VoiceError::Truncated {
                offset,
                needed: 2 + declared,
                left,
            });
        }
        offset += 2 + declared;
        count += 1;
    }
    if count == 0 {
        return Err(VoiceError::NoFrames);
    }
    Ok(offset)
}

/// The sample rate to decode a voice item at: its own when the decoder can
/// produce it, else [`DEFAULT_SAMPLE_RATE`].
fn item_sample_rate(rate: Option<i64>) -> u32 {
    rate.and_then(|r| u32::try_from(r).ok())
        .filter(|r| SAMPLE_RATES.contains(r))
        .unwrap_or(DEFAULT_SAMPLE_RATE)
}

impl Context {
    /// Downloads a voice item and decodes it to PCM, at the item's
    /// `sample_rate` when the decoder supports it, else 24000 Hz.
    ///
    /// Fails with [`VoiceError::NotVoice`] for an item that is not a voice
    /// note, [`VoiceError::NotSilk`] when its `encode_type` names another
    /// codec, [`VoiceError::Download`] when the download fails, and the
    /// errors of [`decode_silk`] for damaged audio.
    pub async fn download_voice_pcm(&self, item: &MessageItem) -> Result<Pcm, VoiceError> {
        let voice = item.voice_item.as_ref().ok_or(VoiceError::NotVoice)?;
        match voice.encode_type {
            None | Some(VoiceEncoding::Silk) => {}
            Some(other) => return Err(VoiceError::NotSilk(other)),
        }
        let bytes = self.download(item).await?;
        decode_silk(&bytes, item_sample_rate(voice.sample_rate))
    }

    /// Downloads a voice item and decodes it to a WAV file (mono, 16-bit);
    /// see [`Context::download_voice_pcm`].
    pub async fn download_voice_wav(&self, item: &MessageItem) -> Result<Vec<u8>, VoiceError> {
        self.download_voice_pcm(item).await?.to_wav()
    }
}

#[cfg(test)]
mod tests;
