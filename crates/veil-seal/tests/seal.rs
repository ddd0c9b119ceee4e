//! Sealed files: round trips, and every way of damaging one is caught.

use proptest::prelude::*;
use veil_seal::{Identity, PublicKey, SealError, open, seal, seal_with_segment_size};

const SEG_LOG2: u8 = 12;
const SEG: usize = 1 << SEG_LOG2;
/// magic..count (46) + one stanza (80) + MAC (32).
const HEADER_1: usize = 46 + 80 + 32;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 256) as u8).collect()
}

fn sealed_to(ids: &[&Identity], plain: &[u8]) -> Vec<u8> {
    let pks: Vec<PublicKey> = ids.iter().map(|i| i.public_key()).collect();
    let mut out = Vec::new();
    seal_with_segment_size(plain, &mut out, &pks, SEG_LOG2).unwrap();
    out
}

fn open_with(id: &Identity, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut out = Vec::new();
    open(sealed, &mut out, id).map(|_| out)
}

#[test]
fn round_trips_at_every_boundary_for_every_recipient() {
    let (a, b, c) =
        (Identity::generate().unwrap(), Identity::generate().unwrap(), Identity::generate().unwrap());
    for n in [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + 17] {
        let plain = data(n);
        let sealed = sealed_to(&[&a, &b, &c], &plain);
        let segments = n.div_ceil(SEG).max(1);
        assert_eq!(sealed.len(), 46 + 3 * 80 + 32 + n + segments * 16, "size {n}");
        for id in [&a, &b, &c] {
            assert_eq!(open_with(id, &sealed).unwrap(), plain, "size {n}");
        }
    }
}

#[test]
fn default_segment_size_round_trips_a_few_segments() {
    let id = Identity::generate().unwrap();
    let plain = data(200_000);
    let mut sealed = Vec::new();
    let s = seal(&plain[..], &mut sealed, &[id.public_key()]).unwrap();
    assert_eq!(s.segments, 4);
    assert_eq!(s.sealed_bytes as usize, sealed.len());
    assert_eq!(open_with(&id, &sealed).unwrap(), plain);
}

#[test]
fn someone_else_cannot_open() {
    let (a, stranger) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let sealed = sealed_to(&[&a], &data(100));
    assert!(matches!(open_with(&stranger, &sealed), Err(SealError::NoMatchingRecipient)));
}

#[test]
fn truncation_is_caught_wherever_it_cuts() {
    let id = Identity::generate().unwrap();
    let sealed = sealed_to(&[&id], &data(3 * SEG + 100));
    let boundary = HEADER_1 + 2 * (SEG + 16);
    assert!(matches!(open_with(&id, &sealed[..boundary]), Err(SealError::Truncated(_))));
    assert!(matches!(open_with(&id, &sealed[..HEADER_1]), Err(SealError::Truncated(_))));
    assert!(matches!(open_with(&id, &sealed[..40]), Err(SealError::Truncated(_))));
    assert!(matches!(open_with(&id, &sealed[..boundary + 5]), Err(SealError::Truncated(_))));
    assert!(matches!(open_with(&id, &sealed[..boundary + 40]), Err(SealError::SegmentTampered { index: 2 })));
    assert!(matches!(
        open_with(&id, &sealed[..sealed.len() - 1]),
        Err(SealError::SegmentTampered { index: 3 })
    ));
    let mut longer = sealed.clone();
    longer.extend_from_slice(&[0u8; 16]);
    assert!(open_with(&id, &longer).is_err(), "appended bytes must not be ignored");
}

#[test]
fn reordered_segments_are_caught() {
    let id = Identity::generate().unwrap();
    let sealed = sealed_to(&[&id], &data(3 * SEG + 100));
    let s = SEG + 16;
    let mut swapped = sealed.clone();
    swapped[HEADER_1..HEADER_1 + s].copy_from_slice(&sealed[HEADER_1 + s..HEADER_1 + 2 * s]);
    swapped[HEADER_1 + s..HEADER_1 + 2 * s].copy_from_slice(&sealed[HEADER_1..HEADER_1 + s]);
    assert_ne!(swapped, sealed);
    assert!(matches!(open_with(&id, &swapped), Err(SealError::SegmentTampered { index: 0 })));
}

#[test]
fn segments_spliced_from_another_file_are_caught() {
    let id = Identity::generate().unwrap();
    let plain = data(2 * SEG + 10);
    let one = sealed_to(&[&id], &plain);
    let two = sealed_to(&[&id], &plain);
    let mut spliced = one.clone();
    let s = SEG + 16;
    spliced[HEADER_1 + s..HEADER_1 + 2 * s].copy_from_slice(&two[HEADER_1 + s..HEADER_1 + 2 * s]);
    assert_ne!(spliced, one);
    assert!(matches!(open_with(&id, &spliced), Err(SealError::SegmentTampered { index: 1 })));
    // The whole header of another file with this file's payload: the data key differs.
    let mut header_swap = two[..HEADER_1].to_vec();
    header_swap.extend_from_slice(&one[HEADER_1..]);
    assert!(matches!(open_with(&id, &header_swap), Err(SealError::SegmentTampered { index: 0 })));
}

#[test]
fn header_fields_are_authenticated_and_checked() {
    let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let sealed = sealed_to(&[&a, &b], &data(10));
    let mut bad_magic = sealed.clone();
    bad_magic[0] = b'X';
    assert!(matches!(open_with(&a, &bad_magic), Err(SealError::NotSealed)));
    let mut bad_version = sealed.clone();
    bad_version[8] = 9;
    assert!(matches!(open_with(&a, &bad_version), Err(SealError::UnsupportedVersion(9))));
    // Drop recipient b's stanza and fix the count: a's wrapped key was bound to the count.
    let mut dropped = sealed[..46].to_vec();
    dropped[45] = 1;
    dropped.extend_from_slice(&sealed[46..46 + 80]);
    dropped.extend_from_slice(&sealed[46 + 160..]);
    assert!(matches!(open_with(&a, &dropped), Err(SealError::NoMatchingRecipient)));
    // Flip the MAC.
    let mut mac = sealed.clone();
    mac[46 + 160] ^= 1;
    assert!(matches!(open_with(&a, &mac), Err(SealError::HeaderTampered)));
    assert!(matches!(Identity::from_file_text("# nothing\n"), Err(SealError::BadIdentity(_))));
}

#[test]
fn identity_files_and_public_keys_round_trip() {
    let id = Identity::generate().unwrap();
    let text = id.to_file_text();
    assert!(text.contains(&id.public_key().to_string()));
    let back = Identity::from_file_text(&text).unwrap();
    assert_eq!(back.public_key(), id.public_key());
    assert_eq!(back.signing_key().verifying_key(), id.signing_key().verifying_key());
    let pk: PublicKey = id.public_key().to_string().parse().unwrap();
    assert_eq!(pk, id.public_key());
    assert!(id.public_key().to_string().starts_with("veilpk1"));
    let mut typo = id.public_key().to_string();
    typo.replace_range(10..11, if &typo[10..11] == "q" { "p" } else { "q" });
    assert!(typo.parse::<PublicKey>().is_err(), "bech32 checksum must catch a typo");
    assert!("veilsk1qqqq".parse::<PublicKey>().is_err());
    assert!(!format!("{id:?}").contains(&text.lines().last().unwrap().to_string()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_flipped_bit_is_refused(n in 0usize..(3 * SEG), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let id = Identity::from_seed(&[7u8; 32]);
        let plain = data(n);
        let sealed = sealed_to(&[&id], &plain);
        let mut bad = sealed.clone();
        let at = pos.index(bad.len());
        bad[at] ^= 1 << bit;
        prop_assert_ne!(&bad, &sealed);
        prop_assert!(open_with(&id, &bad).is_err());
    }

    #[test]
    fn any_plaintext_round_trips(plain in prop::collection::vec(any::<u8>(), 0..(2 * SEG + 3))) {
        let id = Identity::from_seed(&[9u8; 32]);
        prop_assert_eq!(open_with(&id, &sealed_to(&[&id], &plain)).unwrap(), plain);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let id = Identity::from_seed(&[1u8; 32]);
        let mut input = b"VEILSEAL\x01\x0c\x00\x00".to_vec();
        input.extend_from_slice(&bytes);
        prop_assert!(open_with(&id, &input).is_err());
        prop_assert!(open_with(&id, &bytes).is_err());
    }
}
