//! The log end to end on disk: roots against RFC 6962's own test tree and an
//! independent reference, proofs for every kind of position, durability across
//! reopening, and refusal of every tampered file.

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use veil_protocol::{Inclusion, LogHash};
use veil_receipt::{Mode, Receipt, sign};
use veil_tlog::{
    Admission, Checkpoint, Log, LogOptions, LogSigner, LogVerifier, TilePath, TlogError, check_consistency,
    check_inclusion, encode_entry, generate_key, leaf_hash, receipt_entry, receipt_leaf, verify_consistency,
    verify_inclusion,
};

const ORIGIN: &str = "veil.local/log/31337/0x5fbdb2315678afecb367f032d93f642f64180aa3";
/// 2026-12-04T12:00:00Z: the tests' pinned clock.
const NOW: u64 = 1_764_849_600;

fn clock() -> u64 {
    NOW
}

fn keys(seed: u8) -> (String, LogVerifier) {
    let (skey, vkey) = generate_key(ORIGIN, &[seed; 32]).unwrap();
    (skey.to_string(), LogVerifier::new(&vkey).unwrap())
}

fn open(dir: &Path, skey: &str) -> Result<Log, TlogError> {
    Log::open(dir, LogSigner::from_encoded(skey).unwrap(), clock, LogOptions::default())
}

/// RFC 6962's Merkle tree hash, straight from its definition.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            let (l, r) = (mth(&leaves[..k]), mth(&leaves[k..]));
            Sha256::new().chain_update([1]).chain_update(l).chain_update(r).finalize().into()
        }
    }
}

/// Submit all leaves at once (so batches form), and wait for each.
fn append_all(log: &Log, leaves: &[Vec<u8>]) -> Vec<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, l) in leaves.iter().enumerate() {
        let tx = tx.clone();
        log.submit(
            l.clone(),
            Box::new(move |r| {
                tx.send((i, r.map(|a| a.index))).unwrap();
            }),
        )
        .unwrap();
    }
    let mut out = vec![0; leaves.len()];
    for _ in leaves {
        let (i, r) = rx.recv().unwrap();
        out[i] = r.unwrap();
    }
    out
}

fn leaf(i: usize) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

#[test]
fn the_tree_matches_rfc_6962_test_vectors() {
    // The leaves and roots of the Certificate Transparency reference tests.
    let leaves: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let dir = tempfile::tempdir().unwrap();
    let (skey, _) = keys(1);
    let log = open(dir.path(), &skey).unwrap();
    assert_eq!(log.snapshot().checkpoint.root.0, <[u8; 32]>::from(Sha256::digest([])));
    for (l, want) in leaves.iter().zip(roots) {
        let a = log.append(l.to_vec()).unwrap();
        assert_eq!(hex(a.snapshot.checkpoint.root), want, "size {}", a.snapshot.checkpoint.size);
    }
}

fn hex(h: LogHash) -> String {
    h.0.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn proofs_verify_across_tile_boundaries_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (skey, vkey) = keys(2);
    // Past one full level-1 tile (256² leaves) so every tile level is exercised.
    let n = 65_536 + 300;
    let leaves: Vec<Vec<u8>> = (0..n).map(leaf).collect();
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|l| leaf_hash(l).0).collect();
    {
        let log = open(dir.path(), &skey).unwrap();
        let idx = append_all(&log, &leaves[..1000]);
        assert_eq!(idx, (0..1000).collect::<Vec<u64>>());
        append_all(&log, &leaves[1000..]);
        let snap = log.snapshot();
        assert_eq!(snap.checkpoint.size, n as u64);
        assert_eq!(snap.checkpoint.root.0, mth(&hashes));
        assert_eq!(Checkpoint::open(&snap.note, &vkey).unwrap(), snap.checkpoint);
    }
    // Reopened, the log holds exactly what was acknowledged, and goes on.
    let log = open(dir.path(), &skey).unwrap();
    let size = log.snapshot().checkpoint.size;
    assert_eq!(size, n as u64);
    let more = log.append(leaf(n)).unwrap();
    assert_eq!(more.index, n as u64);
    let mut all = hashes.clone();
    all.push(leaf_hash(&leaf(n)).0);
    assert_eq!(more.snapshot.checkpoint.root.0, mth(&all));

    let total = all.len() as u64;
    for &(i, s) in &[
        (0, 1),
        (0, total),
        (255, 256),
        (256, 257),
        (65_535, 65_536),
        (65_536, total),
        (total - 1, total),
        (1234, 5000),
    ] {
        let proof = log.prove_inclusion(i, s).unwrap();
        let root = LogHash(mth(&all[..s as usize]));
        assert_eq!(log.root_at(s).unwrap(), root);
        verify_inclusion(LogHash(all[i as usize]), i, s, root, &proof).unwrap();
        // The same proof for the neighbour, or against another root, fails.
        if s > 1 {
            let j = if i == 0 { 1 } else { i - 1 };
            assert!(verify_inclusion(LogHash(all[j as usize]), i, s, root, &proof).is_err());
        }
    }
    for &(a, b) in
        &[(1, 2), (7, 8), (255, 256), (256, 65_536), (1000, total), (65_537, total), (total, total)]
    {
        let proof = log.prove_consistency(a, b).unwrap();
        let (ra, rb) = (LogHash(mth(&all[..a as usize])), LogHash(mth(&all[..b as usize])));
        verify_consistency(a, ra, b, rb, &proof).unwrap();
        if a != b {
            let wrong = LogHash(mth(&all[1..=a as usize]));
            assert!(matches!(verify_consistency(a, wrong, b, rb, &proof), Err(TlogError::Inconsistent(_))));
        }
    }
    assert!(matches!(log.prove_inclusion(0, total + 1), Err(TlogError::BeyondTree { .. })));
    assert!(matches!(log.prove_consistency(5, total + 1), Err(TlogError::BeyondTree { .. })));
    assert!(matches!(log.prove_consistency(6, 5), Err(TlogError::StaleCheckpoint { .. })));
    assert_eq!(log.entry(70).unwrap(), leaf(70));
    assert!(matches!(log.entry(total), Err(TlogError::BeyondTree { .. })));
}

#[test]
fn tiles_are_served_at_any_width_the_log_has_and_no_further() {
    let dir = tempfile::tempdir().unwrap();
    let (skey, _) = keys(3);
    let log = open(dir.path(), &skey).unwrap();
    let leaves: Vec<Vec<u8>> = (0..300).map(leaf).collect();
    append_all(&log, &leaves);
    let full = log.tile(&TilePath::parse("tile/0/000").unwrap()).unwrap();
    assert_eq!(full.len(), 256 * 32);
    assert_eq!(&full[..32], &leaf_hash(&leaf(0)).0);
    // A client holding an older checkpoint (size 10) asks for the partial tile it knew.
    assert_eq!(log.tile(&TilePath::parse("tile/0/000.p/10").unwrap()).unwrap(), full[..320]);
    let edge = log.tile(&TilePath::parse("tile/0/001.p/44").unwrap()).unwrap();
    assert_eq!(&edge[..32], &leaf_hash(&leaf(256)).0);
    assert!(matches!(
        log.tile(&TilePath::parse("tile/0/001.p/45").unwrap()),
        Err(TlogError::BeyondTree { .. })
    ));
    assert!(matches!(
        log.tile(&TilePath::parse("tile/0/002.p/1").unwrap()),
        Err(TlogError::BeyondTree { .. })
    ));
    let bundle = log.tile(&TilePath::parse("tile/entries/001.p/2").unwrap()).unwrap();
    let entries = veil_tlog::bundle_entries(&bundle).unwrap();
    assert_eq!(entries, [leaf(256).as_slice(), leaf(257).as_slice()]);
    // Superseded partial files are gone from disk once a wider one is durable.
    let dir_files: Vec<_> = walk(&dir.path().join("tile/0"));
    assert!(dir_files.iter().all(|f| !f.ends_with("000.p/10")), "{dir_files:?}");
}

fn walk(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn a_log_whose_files_were_tampered_with_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let (skey, _) = keys(4);
    {
        let log = open(dir.path(), &skey).unwrap();
        append_all(&log, &(0..300).map(leaf).collect::<Vec<_>>());
    }
    // A changed leaf hash in the edge tile.
    let tile = dir.path().join("tile/0/001.p/44");
    let good = std::fs::read(&tile).unwrap();
    let mut bad = good.clone();
    bad[40] ^= 1;
    assert_ne!(bad, good);
    std::fs::write(&tile, &bad).unwrap();
    assert!(matches!(open(dir.path(), &skey), Err(TlogError::Corrupt(_))));
    std::fs::write(&tile, &good).unwrap();

    // A changed entry in the edge bundle.
    let bundle = dir.path().join("tile/entries/001.p/44");
    let good_b = std::fs::read(&bundle).unwrap();
    let mut bad_b = good_b.clone();
    *bad_b.last_mut().unwrap() ^= 1;
    assert_ne!(bad_b, good_b);
    std::fs::write(&bundle, &bad_b).unwrap();
    assert!(matches!(open(dir.path(), &skey), Err(TlogError::Corrupt(_))));
    std::fs::write(&bundle, &good_b).unwrap();

    // A checkpoint re-signed by another key, or edited.
    let cp = dir.path().join("checkpoint");
    let good_cp = std::fs::read(&cp).unwrap();
    let edited = String::from_utf8(good_cp.clone()).unwrap().replacen("\n300\n", "\n299\n", 1).into_bytes();
    assert_ne!(edited, good_cp);
    std::fs::write(&cp, &edited).unwrap();
    assert!(matches!(open(dir.path(), &skey), Err(TlogError::BadCheckpoint(_))));
    std::fs::write(&cp, &good_cp).unwrap();
    let (other, _) = keys(5);
    assert!(matches!(open(dir.path(), &other), Err(TlogError::BadCheckpoint(_))));

    // Tiles with no checkpoint at all.
    std::fs::remove_file(&cp).unwrap();
    assert!(matches!(open(dir.path(), &skey), Err(TlogError::Corrupt(_))));
    std::fs::write(&cp, &good_cp).unwrap();
    assert_eq!(open(dir.path(), &skey).unwrap().snapshot().checkpoint.size, 300);
}

#[test]
fn tiles_a_crash_left_past_the_checkpoint_are_ignored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (skey, _) = keys(6);
    {
        let log = open(dir.path(), &skey).unwrap();
        append_all(&log, &(0..10).map(leaf).collect::<Vec<_>>());
    }
    // A batch that wrote its tiles and died before its checkpoint.
    std::fs::write(dir.path().join("tile/0/000.p/12"), [7u8; 12 * 32]).unwrap();
    std::fs::write(dir.path().join("tile/entries/000.p/12"), b"junk").unwrap();
    let log = open(dir.path(), &skey).unwrap();
    assert_eq!(log.snapshot().checkpoint.size, 10);
    append_all(&log, &(10..12).map(leaf).collect::<Vec<_>>());
    let hashes: Vec<[u8; 32]> = (0..12).map(|i| leaf_hash(&leaf(i)).0).collect();
    assert_eq!(log.snapshot().checkpoint.root.0, mth(&hashes));
    drop(log);
    assert_eq!(open(dir.path(), &skey).unwrap().snapshot().checkpoint.root.0, mth(&hashes));
}

#[test]
fn oversized_entries_and_a_full_queue_are_refused_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (skey, _) = keys(7);
    let log = Log::open(
        dir.path(),
        LogSigner::from_encoded(&skey).unwrap(),
        clock,
        LogOptions { max_batch: 4, max_pending: 0 },
    )
    .unwrap();
    assert!(matches!(
        log.append(vec![0; veil_protocol::MAX_ENTRY_BYTES + 1]),
        Err(TlogError::EntryTooLarge { .. })
    ));
    assert!(matches!(log.append(leaf(0)), Err(TlogError::Busy(0))));
    assert_eq!(log.snapshot().checkpoint.size, 0);
}

fn receipt_at(secs: i64, seed: u8) -> Vec<u8> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
    let r = Receipt::new(
        Mode::Tee,
        veil_content::root_of(b"in").unwrap(),
        veil_content::root_of(b"out").unwrap(),
        t,
    );
    sign(r, &SigningKey::from_bytes(&[seed; 32])).unwrap().to_json_pretty().into_bytes()
}

#[test]
fn a_receipt_goes_in_only_signed_and_on_time_and_its_inclusion_checks() {
    let now = NOW as i64;
    let adm = Admission::default();
    let good = receipt_at(now - 10, 1);
    // Backdated past the window, or claiming a time ahead of the log's clock.
    assert!(matches!(receipt_entry(&receipt_at(now - 301, 1), NOW, adm), Err(TlogError::EntryTime { .. })));
    assert!(matches!(receipt_entry(&receipt_at(now + 61, 1), NOW, adm), Err(TlogError::EntryTime { .. })));
    // A receipt whose signature does not cover it.
    let tampered = String::from_utf8(good.clone()).unwrap().replacen("\"tee\"", "\"zk\"", 1).into_bytes();
    assert_ne!(tampered, good);
    assert!(matches!(receipt_entry(&tampered, NOW, adm), Err(TlogError::EntryMalformed(_))));

    let dir = tempfile::tempdir().unwrap();
    let (skey, vkey) = keys(8);
    let log = Arc::new(open(dir.path(), &skey).unwrap());
    append_all(&log, &(0..5).map(leaf).collect::<Vec<_>>());
    let leaf_bytes = encode_entry(&receipt_entry(&good, NOW, adm).unwrap()).unwrap();
    let a = log.append(leaf_bytes).unwrap();
    let inclusion = Inclusion {
        index: a.index,
        checkpoint: String::from_utf8(a.snapshot.note.clone()).unwrap(),
        proof: log.prove_inclusion(a.index, a.snapshot.checkpoint.size).unwrap(),
    };
    // A verifier recomputes the leaf from the receipt alone.
    let (entry, _) = receipt_leaf(&good).unwrap();
    let (cp, got) = check_inclusion(&inclusion, &encode_entry(&entry).unwrap(), &vkey).unwrap();
    assert_eq!(got, entry);
    assert_eq!(cp.size, 6);
    // Another receipt does not ride on this inclusion, nor does a moved index.
    let (other, _) = receipt_leaf(&receipt_at(now - 10, 2)).unwrap();
    assert!(matches!(
        check_inclusion(&inclusion, &encode_entry(&other).unwrap(), &vkey),
        Err(TlogError::BadProof(_))
    ));
    let moved = Inclusion { index: 4, ..inclusion.clone() };
    assert!(check_inclusion(&moved, &encode_entry(&entry).unwrap(), &vkey).is_err());
    let beyond = Inclusion { index: 6, ..inclusion.clone() };
    assert!(matches!(
        check_inclusion(&beyond, &encode_entry(&entry).unwrap(), &vkey),
        Err(TlogError::BeyondTree { .. })
    ));
    let long = Inclusion { proof: vec![LogHash([0; 32]); 65], ..inclusion };
    assert!(matches!(
        check_inclusion(&long, &encode_entry(&entry).unwrap(), &vkey),
        Err(TlogError::BadProof(_))
    ));

    // Consistency between two signed checkpoints.
    let old = a.snapshot.note.clone();
    append_all(&log, &(6..20).map(leaf).collect::<Vec<_>>());
    let new = log.snapshot().note.clone();
    let proof = log.prove_consistency(6, 20).unwrap();
    check_consistency(&old, &new, &proof, &vkey).unwrap();
    assert!(matches!(check_consistency(&new, &old, &proof, &vkey), Err(TlogError::StaleCheckpoint { .. })));
}
