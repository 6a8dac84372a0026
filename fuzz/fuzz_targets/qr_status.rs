#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ilink_fuzz_checks::qr_status(data));
