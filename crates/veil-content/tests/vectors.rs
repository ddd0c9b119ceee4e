//! The 0G Storage SDK's own roots, plus a naive reference tree to check the
//! streaming frontier, the segment tree and the proofs against.

use proptest::prelude::*;
use sha3::{Digest, Keccak256};
use veil_content::{Layout, Root, RootHasher, SEGMENT_SIZE, SegmentTree, root_of};

fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Level-by-level hashing with literal zero chunks, as the 0G SDK describes it.
fn naive_root(data: &[u8]) -> Root {
    let layout = Layout::for_size(data.len() as u64).unwrap();
    let mut level: Vec<[u8; 32]> = (0..layout.padded_chunks as usize)
        .map(|i| {
            let mut chunk = [0u8; 256];
            let start = (i * 256).min(data.len());
            let end = ((i + 1) * 256).min(data.len());
            chunk[..end - start].copy_from_slice(&data[start..end]);
            Keccak256::digest(chunk).into()
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => {
                    let mut h = Keccak256::new();
                    h.update(l);
                    h.update(r);
                    h.finalize().into()
                }
                [odd] => *odd,
                _ => unreachable!(),
            })
            .collect();
    }
    Root(level[0])
}

#[test]
fn every_0g_sdk_vector_matches() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/storage/0g-root-vectors.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 8, "fixture lost its vectors");
    for v in vectors {
        let size = v["size"].as_u64().unwrap();
        let layout = Layout::for_size(size).unwrap();
        assert_eq!(layout.chunks, v["chunks"].as_u64().unwrap(), "chunks for {size}");
        assert_eq!(layout.padded_chunks, v["padded_chunks"].as_u64().unwrap(), "padding for {size}");
        let data = pattern(size as usize);
        let expected: Root = v["root"].as_str().unwrap().parse().unwrap();
        assert_eq!(root_of(&data).unwrap(), expected, "root for size {size}");
        let tree = SegmentTree::build(&data[..], size).unwrap();
        assert_eq!(tree.root(), expected, "segment-tree root for size {size}");
    }
}

#[test]
fn empty_input_has_no_root() {
    assert!(matches!(root_of(&[]), Err(veil_content::ContentError::Empty)));
}

#[test]
fn padding_rule_examples() {
    assert_eq!(Layout::padded_chunks(1), 1);
    assert_eq!(Layout::padded_chunks(3), 3);
    assert_eq!(Layout::padded_chunks(17), 18);
    assert_eq!(Layout::padded_chunks(1025), 1152);
    assert_eq!(Layout::padded_chunks((1 << 20) + 1), (1 << 20) + (1 << 17));
}

#[test]
fn padding_that_adds_whole_zero_segments_still_proves() {
    // 16 segments + 1 chunk pads to 16 segments + 2 segments of zeros (m = 2048 chunks).
    let size = 16 * SEGMENT_SIZE + 1;
    let data = pattern(size as usize);
    let tree = SegmentTree::build(&data[..], size).unwrap();
    assert_eq!(tree.layout().segments(), 18);
    assert_eq!(tree.root(), root_of(&data).unwrap());
    for index in [0u64, 15, 16, 17] {
        let range = tree.layout().segment_data_range(index);
        let seg = &data[range.start as usize..range.end as usize];
        tree.proof(index).unwrap().verify(&tree.root(), seg).unwrap();
    }
}

#[test]
fn a_proof_refuses_wrong_data_and_wrong_shape() {
    let size = 3 * SEGMENT_SIZE + 1000;
    let data = pattern(size as usize);
    let tree = SegmentTree::build(&data[..], size).unwrap();
    let proof = tree.proof(1).unwrap();
    let mut seg = data[SEGMENT_SIZE as usize..2 * SEGMENT_SIZE as usize].to_vec();
    proof.verify(&tree.root(), &seg).unwrap();
    seg[17] ^= 1;
    assert_ne!(seg[17], data[SEGMENT_SIZE as usize + 17]);
    assert!(matches!(proof.verify(&tree.root(), &seg), Err(veil_content::ContentError::RootMismatch { .. })));
    seg[17] ^= 1;
    let mut short = proof.clone();
    short.siblings.pop();
    assert!(matches!(short.verify(&tree.root(), &seg), Err(veil_content::ContentError::ProofShape { .. })));
    let mut moved = proof.clone();
    moved.index = 2;
    assert!(moved.verify(&tree.root(), &seg).is_err());
    assert!(matches!(tree.proof(4), Err(veil_content::ContentError::NoSuchSegment { .. })));
    assert!(SegmentTree::build(&data[..size as usize - 1], size).is_err());
}

#[test]
fn root_strings_have_one_spelling() {
    let r: Root = "0xd397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5".parse().unwrap();
    assert_eq!(r.to_string(), "0xd397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5");
    for bad in [
        "0xD397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5",
        "d397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5",
        "0xd397",
        "0x",
        "",
    ] {
        assert!(bad.parse::<Root>().is_err(), "{bad}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn streaming_matches_naive_for_any_split(size in 1usize..40_000, cut_a in any::<prop::sample::Index>(), cut_b in any::<prop::sample::Index>()) {
        let data: Vec<u8> = (0..size).map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8).collect();
        let (mut a, mut b) = (cut_a.index(size + 1), cut_b.index(size + 1));
        if a > b { std::mem::swap(&mut a, &mut b); }
        let mut h = RootHasher::new();
        h.update(&data[..a]);
        h.update(&data[a..b]);
        h.update(&data[b..]);
        prop_assert_eq!(h.finalize().unwrap(), naive_root(&data));
    }

    #[test]
    fn every_segment_proves_and_a_flip_is_caught(size in 1u64..(5 * SEGMENT_SIZE), flip in any::<prop::sample::Index>()) {
        let data: Vec<u8> = (0..size as usize).map(|i| (i % 253) as u8).collect();
        let tree = SegmentTree::build(&data[..], size).unwrap();
        let root = root_of(&data).unwrap();
        prop_assert_eq!(tree.root(), root);
        for index in 0..tree.layout().segments() {
            let r = tree.layout().segment_data_range(index);
            let seg = &data[r.start as usize..r.end as usize];
            tree.proof(index).unwrap().verify(&root, seg).unwrap();
            if !seg.is_empty() {
                let mut bad = seg.to_vec();
                let at = flip.index(bad.len());
                bad[at] ^= 0x80;
                prop_assert!(tree.proof(index).unwrap().verify(&root, &bad).is_err());
            }
        }
    }

    #[test]
    fn padding_rule_matches_its_definition(n in 1u64..(1 << 40)) {
        let padded = Layout::padded_chunks(n);
        prop_assert!(padded >= n);
        if n.is_power_of_two() {
            prop_assert_eq!(padded, n);
        } else {
            let m = (n.next_power_of_two() / 16).max(1);
            prop_assert_eq!(padded % m, 0);
            prop_assert!(padded - n < m);
        }
    }

    #[test]
    fn proofs_round_trip_through_json(size in 1u64..(3 * SEGMENT_SIZE)) {
        let data = vec![7u8; size as usize];
        let tree = SegmentTree::build(&data[..], size).unwrap();
        let proof = tree.proof(tree.layout().segments() - 1).unwrap();
        let json = serde_json::to_string(&proof).unwrap();
        prop_assert_eq!(serde_json::from_str::<veil_content::SegmentProof>(&json).unwrap(), proof);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_incremental_builder_agrees_whatever_the_feed(size in 1usize..(4 * SEGMENT_SIZE as usize), step in 1usize..300_000) {
        let data: Vec<u8> = (0..size).map(|i| (i % 239) as u8).collect();
        let mut b = veil_content::SegmentTreeBuilder::new();
        for piece in data.chunks(step) {
            b.update(piece);
        }
        let tree = b.finish().unwrap();
        prop_assert_eq!(tree.root(), root_of(&data).unwrap());
        let again = SegmentTree::from_parts(size as u64, tree.segment_roots().to_vec()).unwrap();
        prop_assert_eq!(again.root(), tree.root());
    }
}

#[test]
fn absurd_sizes_and_indices_from_outside_are_errors_not_overflows() {
    let proof = veil_content::SegmentProof { file_size: u64::MAX, index: u64::MAX, siblings: vec![] };
    assert!(proof.verify(&Root([0; 32]), b"").is_err());
    let layout = Layout::for_size(u64::MAX).unwrap();
    let last = layout.segments() - 1;
    let proof = veil_content::SegmentProof { file_size: u64::MAX, index: last, siblings: vec![] };
    assert!(proof.verify(&Root([0; 32]), b"x").is_err());
    assert!(layout.segment_data_range(last).end == u64::MAX);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn the_two_core_path_gives_the_same_root(extra in 0usize..300_000, lead in 0usize..1000) {
        // Sizes past 2 MiB take the parallel path for aligned blocks, with an
        // unaligned lead-in forcing the serial path first.
        let size = (2 << 20) + extra;
        let data: Vec<u8> = (0..size).map(|i| (i % 241) as u8).collect();
        let mut h = RootHasher::new();
        h.update(&data[..lead.min(size)]);
        h.update(&data[lead.min(size)..]);
        let streamed = h.finalize().unwrap();
        let (from_reader, n) = veil_content::root_of_reader(&data[..]).unwrap();
        prop_assert_eq!(n as usize, size);
        prop_assert_eq!(streamed, from_reader);
        prop_assert_eq!(streamed, SegmentTree::build(&data[..], size as u64).unwrap().root());
    }
}
