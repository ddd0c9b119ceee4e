//! Arbitrary bytes as snarkjs JSON (proof, verification key, public inputs) and as a
//! statement: parsed or refused with a typed error, never a panic; anything parsed
//! re-encodes to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veil_zk::snarkjs;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(p) = snarkjs::proof_from_json(&v) {
        assert_eq!(snarkjs::proof_from_json(&snarkjs::proof_to_json(&p)).ok(), Some(p));
    }
    if let Ok(vk) = snarkjs::vk_from_json(&v) {
        assert_eq!(snarkjs::vk_from_json(&snarkjs::vk_to_json(&vk)).ok(), Some(vk));
    }
    if let Ok(public) = snarkjs::public_from_json(&v) {
        assert_eq!(snarkjs::public_from_json(&snarkjs::public_to_json(&public)).ok(), Some(public));
    }
    if let Ok(input) = serde_json::from_value::<veil_zk::income::IncomeInput>(v) {
        let _ = veil_zk::income::IncomeThreshold::try_from(input);
    }
});
