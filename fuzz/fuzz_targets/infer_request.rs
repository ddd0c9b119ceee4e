//! Arbitrary bytes as a gateway request body: decoding and signature recovery give a
//! typed error or an address, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let domain = veil_protocol::domain(32273, alloy_primitives::Address::repeat_byte(0x11));
    if let Ok(req) = serde_json::from_slice::<veil_protocol::SignedRequest>(data) {
        let _ = req.verify(&domain, 1_700_000_000, veil_protocol::MAX_EXPIRY_SECS);
    }
    let _ = serde_json::from_slice::<veil_protocol::JobRequest>(data);
});
