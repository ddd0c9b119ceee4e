//! A segment proof from outside (JSON) checked against a root: an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (json, segment) = data.split_at(split);
    if let Ok(proof) = serde_json::from_slice::<veil_content::SegmentProof>(json) {
        let root = veil_content::Root([0x11; 32]);
        let _ = proof.verify(&root, segment);
    }
});
