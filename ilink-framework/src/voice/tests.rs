use super::*;

const RATE: u32 = 24_000;

/// `seconds` of a 440 Hz tone at `RATE`, as little-endian 16-bit PCM.
fn tone(seconds: u32) -> Vec<u8> {
    (0..RATE * seconds)
        .flat_map(|i| {
            let t = f64::from(i) / f64::from(RATE);
            let sample = (t * 440.0 * std::f64::consts::TAU).sin() * 10_000.0;
            (sample as i16).to_le_bytes()
        })
        .collect()
}

/// A tone encoded the WeChat way: `0x02`, `#!SILK_V3`, frames.
fn wechat_silk() -> Vec<u8> {
    silk_codec::encode_silk(tone(1), RATE as i32, 24_000, true).unwrap()
}

#[test]
fn a_wechat_voice_note_decodes_to_its_duration_and_rate() {
    let silk = wechat_silk();
    assert_eq!(&silk[..10], b"\x02#!SILK_V3");
    let pcm = decode_silk(&silk, RATE).unwrap();
    assert_eq!(pcm.sample_rate, RATE);
    assert_eq!(pcm.samples.len(), RATE as usize);
    assert_eq!(pcm.duration(), Duration::from_secs(1));
    let loudest = pcm.samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!(loudest > 1000, "the tone is heard, peak {loudest}");
}

#[test]
fn the_prefix_and_the_end_mark_are_optional() {
    let silk = wechat_silk();
    let prefixed = decode_silk(&silk, RATE).unwrap();
    let plain = decode_silk(&silk[1..], RATE).unwrap();
    assert_eq!(plain, prefixed);
    let marked = [&silk[..], &(-1i16).to_le_bytes()].concat();
    assert_eq!(decode_silk(&marked, RATE).unwrap(), prefixed);
}

#[test]
fn other_sample_rates_resample() {
    let pcm = decode_silk(&wechat_silk(), 16_000).unwrap();
    assert_eq!(pcm.samples.len(), 16_000);
    assert_eq!(pcm.duration(), Duration::from_secs(1));
}

#[test]
fn an_unsupported_sample_rate_is_an_error() {
    for rate in [0, 44_100, 96_000] {
        assert!(
            matches!(decode_silk(&wechat_silk(), rate), Err(VoiceError::SampleRate(r)) if r == rate),
            "{rate}"
        );
    }
}

#[test]
fn empty_bytes_are_an_error() {
    assert!(matches!(decode_silk(b"", RATE), Err(VoiceError::Empty)));
}

#[test]
fn bytes_without_the_header_are_an_error() {
    for bytes in [
        &b"\x02"[..],
        b"\x02#!AMR",
        b"#!SILK_V2\x10\x00",
        b"ID3\x03\x00",
    ] {
        assert!(
            matches!(decode_silk(bytes, RATE), Err(VoiceError::NoHeader)),
            "{bytes:?}"
        );
    }
}

#[test]
fn a_header_without_frames_is_an_error() {
    for bytes in [&b"\x02#!SILK_V3"[..], b"#!SILK_V3", b"#!SILK_V3\xff\xff"] {
        assert!(
            matches!(decode_silk(bytes, RATE), Err(VoiceError::NoFrames)),
            "{bytes:?}"
        );
    }
}

#[test]
fn truncated_audio_is_an_error() {
    let silk = wechat_silk();
    let cut = &silk[..silk.len() - 3];
    assert!(matches!(
        decode_silk(cut, RATE),
        Err(VoiceError::Truncated { needed, left, .. }) if left + 3 == needed
    ));
    let odd = [&silk[..], &[0x10]].concat();
    assert!(matches!(
        decode_silk(&odd, RATE),
        Err(VoiceError::Truncated {
            needed: 2,
            left: 1,
            ..
        })
    ));
}

#[test]
fn a_frame_longer_than_a_frame_can_be_is_an_error() {
    let bytes = [&b"#!SILK_V3"[..], &2000i16.to_le_bytes(), &[0; 2000]].concat();
    assert!(matches!(
        decode_silk(&bytes, RATE),
        Err(VoiceError::FrameTooLarge {
            offset: 0,
            declared: 2000,
            limit: 960
        })
    ));
}

#[test]
fn garbage_frames_are_an_error() {
    let mut bytes = b"\x02#!SILK_V3".to_vec();
    for frame in 0..50u8 {
        bytes.extend_from_slice(&16i16.to_le_bytes());
        bytes.extend((0..16u8).map(|i| i.wrapping_mul(91).wrapping_add(frame)));
    }
    let zero_length = [&b"#!SILK_V3"[..], &[0, 0]].concat();
    for bytes in [bytes, zero_length] {
        assert!(
            matches!(decode_silk(&bytes, RATE), Err(VoiceError::Codec(_))),
            "{bytes:?}"
        );
    }
}

#[test]
fn wav_holds_the_samples_at_the_rate() {
    let pcm = Pcm {
        sample_rate: 16_000,
        samples: vec![0, 1000, -1000, i16::MAX, i16::MIN],
    };
    let wav = pcm.to_wav().unwrap();
    let reader = hound::WavReader::new(Cursor::new(wav)).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 16_000, 16)
    );
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert_eq!(samples, pcm.samples);
}

#[test]
fn duration_counts_samples() {
    let pcm = Pcm {
        sample_rate: 8_000,
        samples: vec![0; 4_000],
    };
    assert_eq!(pcm.duration(), Duration::from_millis(500));
    assert_eq!(Pcm::default().duration(), Duration::ZERO);
}

#[test]
fn an_item_decodes_at_its_rate_when_supported() {
    assert_eq!(item_sample_rate(Some(16_000)), 16_000);
    assert_eq!(item_sample_rate(Some(44_100)), DEFAULT_SAMPLE_RATE);
    assert_eq!(item_sample_rate(Some(-1)), DEFAULT_SAMPLE_RATE);
    assert_eq!(item_sample_rate(None), DEFAULT_SAMPLE_RATE);
}
