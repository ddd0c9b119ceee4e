//! Arbitrary bytes as a receipt file: a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = veil_receipt::verify(data) {
        // Anything accepted must be signed by the key it names.
        let _ = v.summary();
    }
});
