//! Arbitrary bytes as a sealed file: an error, never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = veil_seal::Identity::from_seed(&[7u8; 32]);
    let mut out = Vec::new();
    let _ = veil_seal::open(data, &mut out, &id);
});
