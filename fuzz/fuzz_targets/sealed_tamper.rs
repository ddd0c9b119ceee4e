//! A real sealed file with fuzzer-chosen edits: either the edit is refused, or the
//! edits cancelled out and the original plaintext comes back. Never anything else.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let id = veil_seal::Identity::from_seed(&[3u8; 32]);
    let plain_len = (usize::from(data[0]) << 6) | usize::from(data[1] & 0x3f);
    let plain: Vec<u8> = (0..plain_len).map(|i| i as u8).collect();
    let mut sealed = Vec::new();
    veil_seal::seal_with_segment_size(&plain[..], &mut sealed, &[id.public_key()], 12).unwrap();
    let original = sealed.clone();
    // Each (position, xor) pair edits one byte; an odd trailing byte truncates.
    let edits = &data[2..];
    for pair in edits.chunks_exact(3) {
        let pos = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % sealed.len();
        sealed[pos] ^= pair[2];
    }
    if edits.len() % 3 != 0 {
        let cut = usize::from(edits[edits.len() - 1]) % sealed.len();
        sealed.truncate(cut);
    }
    let mut out = Vec::new();
    match veil_seal::open(&sealed[..], &mut out, &id) {
        Ok(_) => {
            assert_eq!(sealed, original, "a modified file opened");
            assert_eq!(out, plain);
        }
        Err(_) => assert_ne!(sealed, original, "an untouched file was refused"),
    }
});
