//! Arbitrary bytes as a snarkjs `.zkey`, as snarkjs JSON (proof, verification key,
//! public inputs), as a statement and as a zkML network: parsed or refused with a
//! typed error, never a panic; anything parsed re-encodes to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veil_zk::snarkjs;

fuzz_target!(|data: &[u8]| {
    // Mostly refused at the magic; the dictionary-free fuzzer still reaches sections.
    let mut zkey = b"zkey".to_vec();
    zkey.extend_from_slice(data);
    let _ = veil_zk::circom::pk_from_zkey(&zkey);
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
    if let Ok(net) = serde_json::from_value::<veil_zk::mlp::Network>(v.clone())
        && net.check().is_ok()
        && net.layers.iter().map(|l| l.weights.len()).sum::<usize>() < 4096
    {
        let x = vec![1i8; net.features()];
        let out = net.forward(&x).expect("a checked network runs on its own width");
        assert_eq!(out.len(), net.outputs());
        let _ = net.hash();
    }
    if let Ok(input) = serde_json::from_value::<veil_zk::income::IncomeInput>(v) {
        let _ = veil_zk::income::IncomeThreshold::try_from(input);
    }
});
