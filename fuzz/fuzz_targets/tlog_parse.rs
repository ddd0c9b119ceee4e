//! Everything the transparency log reads from outside: tile paths, checkpoint text
//! and signed notes, entries and entry bundles, and inclusion and consistency proofs.
//! Nothing panics; whatever parses has exactly the one spelling it re-encodes to; no
//! proof made of arbitrary hashes verifies against a root it was not made for.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use veil_tlog::{
    Checkpoint, LogHash, LogVerifier, TilePath, bundle_entries, bundle_push, decode_entry, encode_entry,
    generate_key, verify_consistency, verify_inclusion,
};

static LOG: LazyLock<LogVerifier> = LazyLock::new(|| {
    let (_, vkey) = generate_key("veil.local/log/1/0x00", &[1; 32]).expect("key");
    LogVerifier::new(&vkey).expect("verifier")
});

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(t) = TilePath::parse(s) {
            assert_eq!(t.to_string(), s);
        }
        if let Ok(cp) = Checkpoint::parse_text(s) {
            assert_eq!(cp.text(), s);
        }
        if let Ok(h) = s.parse::<LogHash>() {
            assert_eq!(h.to_string(), s);
        }
    }
    if let Ok(cp) = Checkpoint::open(data, &LOG) {
        assert_eq!(cp.origin, LOG.name());
    }
    if let Ok(e) = decode_entry(data) {
        assert_eq!(encode_entry(&e).unwrap(), data);
    }
    if let Ok(entries) = bundle_entries(data) {
        let mut again = Vec::new();
        for e in &entries {
            bundle_push(&mut again, e).unwrap();
        }
        assert_eq!(again, data);
    }
    // Proofs: the first 16 bytes pick index and size, the rest are hashes.
    if data.len() >= 16 + 64 {
        let a = u64::from_le_bytes(data[..8].try_into().unwrap());
        let b = u64::from_le_bytes(data[8..16].try_into().unwrap());
        let hashes: Vec<LogHash> =
            data[16..].chunks_exact(32).map(|c| LogHash(c.try_into().unwrap())).collect();
        let (leaf, root, proof) = (hashes[0], hashes[1], &hashes[2..]);
        let _ = verify_inclusion(leaf, a, b, root, proof);
        let _ = verify_consistency(a, leaf, b, root, proof);
        // A proof for a one-leaf tree is empty and its root is the leaf.
        assert_eq!(verify_inclusion(leaf, 0, 1, root, &[]).is_ok(), leaf == root);
    }
});
