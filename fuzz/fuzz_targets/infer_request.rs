//! Arbitrary bytes as a gateway request body or API key: decoding and signature
//! recovery give a typed error or an address, never a panic; a token id that parses is
//! spelled one way only; an API key that decodes encodes back to a key that decodes to
//! the same grant; a problem document survives its own round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let domain = veil_protocol::domain(32273, alloy_primitives::Address::repeat_byte(0x11));
    if let Ok(req) = serde_json::from_slice::<veil_protocol::SignedRequest<String>>(data) {
        if let Ok(token) = req.token() {
            assert_eq!(token.to_string(), req.token_id, "a token id has one spelling");
        }
    }
    if let Ok(req) = serde_json::from_slice::<veil_protocol::SignedRequest>(data) {
        let _ = req.verify(&domain, 1_700_000_000, veil_protocol::MAX_EXPIRY_SECS);
    }
    let _ = serde_json::from_slice::<veil_protocol::JobRequest>(data);
    let _ = serde_json::from_slice::<veil_protocol::ChatEvent>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(grant) = veil_protocol::SignedAccessGrant::from_api_key(text) {
            let again =
                veil_protocol::SignedAccessGrant::from_api_key(&grant.to_api_key()).expect("re-encoded key");
            assert_eq!(again, grant);
            let _ = grant.verify(&domain, 1_700_000_000);
        }
        if let Ok(id) = text.parse::<veil_protocol::TokenId>() {
            assert_eq!(id.to_string(), text, "a token id has one spelling");
        }
    }
    if let Ok(p) = serde_json::from_slice::<veil_protocol::Problem>(data) {
        let again: veil_protocol::Problem =
            serde_json::from_slice(&serde_json::to_vec(&p).expect("serializes")).expect("parses back");
        assert_eq!(again, p);
    }
});
