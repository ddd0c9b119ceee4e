//! The chain catches every edit, drop and reorder; crash leftovers are repaired.

use std::io::Write as _;
use std::path::Path;

use proptest::prelude::*;
use serde_json::json;
use veil_audit::{AuditError, AuditLog, Head, verify};

fn write_log(path: &Path, n: u64) -> Head {
    let mut log = AuditLog::open(path).unwrap();
    for i in 0..n {
        log.append(
            "2026-11-21T12:00:00Z",
            &json!({"decision": if i % 2 == 0 { "granted" } else { "refused" }, "i": i}),
        )
        .unwrap();
    }
    log.head()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn broken_at(r: Result<Head, AuditError>) -> u64 {
    match r {
        Err(AuditError::Broken { line, .. }) => line,
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn a_log_verifies_and_continues_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let head = write_log(&path, 5);
    assert_eq!(head.len, 5);
    assert_eq!(verify(&path, Some(head)).unwrap(), head);
    let mut log = AuditLog::open(&path).unwrap();
    assert_eq!(log.head(), head);
    let next = log.append("2026-11-21T12:01:00Z", &json!({"decision": "granted"})).unwrap();
    assert_eq!(next.len, 6);
    assert_eq!(verify(&path, Some(head)).unwrap(), next, "a longer log still reaches the recorded head");
    assert_eq!(head.to_string().parse::<Head>().unwrap(), head);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn edits_drops_and_reorders_are_caught_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 6);
    let original = lines(&path);

    let mut edited = original.clone();
    edited[2] = edited[2].replace("granted", "refused");
    assert_ne!(edited, original);
    rewrite(&path, &edited);
    assert_eq!(broken_at(verify(&path, None)), 3);
    assert!(AuditLog::open(&path).is_err(), "a damaged log must not be appended to");

    let mut dropped = original.clone();
    dropped.remove(3);
    rewrite(&path, &dropped);
    assert_eq!(broken_at(verify(&path, None)), 4);

    let mut swapped = original.clone();
    swapped.swap(1, 2);
    rewrite(&path, &swapped);
    assert_eq!(broken_at(verify(&path, None)), 2);

    // Removing the tail is invisible to the chain, but not against a recorded head.
    let head = {
        rewrite(&path, &original);
        verify(&path, None).unwrap()
    };
    rewrite(&path, &original[..4]);
    assert!(matches!(verify(&path, Some(head)), Err(AuditError::Truncated { .. })));
}

#[test]
fn a_torn_last_line_from_a_crash_is_cut_off_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let head = write_log(&path, 3);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"seq\":3,\"at\":\"2026-11");
    std::fs::write(&path, &bytes).unwrap();
    assert!(verify(&path, None).is_err(), "verify reports the fragment");
    let mut log = AuditLog::open(&path).unwrap();
    assert_eq!(log.head(), head);
    log.append("2026-11-21T12:02:00Z", &json!({"decision": "granted"})).unwrap();
    assert_eq!(verify(&path, Some(head)).unwrap().len, 4);
}

/// Issue 14, finding 7: a write that failed part-way (the disk was full) left a tail
/// the next entry would have followed, breaking the chain for good.
#[test]
fn an_append_that_failed_part_way_is_cut_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    log.append("2026-11-21T12:00:00Z", &json!({"decision": "granted"})).unwrap();
    // What a short write leaves behind, while the log stays open.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"seq\":1,\"at\":\"2026-1")
        .unwrap();
    assert!(verify(&path, None).is_err(), "the tail is really there");
    log.append("2026-11-21T12:01:00Z", &json!({"decision": "refused"})).unwrap();
    assert_eq!(verify(&path, Some(log.head())).unwrap().len, 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_single_byte_change_is_caught(pick in any::<prop::sample::Index>(), to in any::<u8>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let head = write_log(&path, 4);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = pick.index(bytes.len());
        prop_assume!(bytes[at] != to);
        bytes[at] = to;
        std::fs::write(&path, &bytes).unwrap();
        prop_assert!(verify(&path, Some(head)).is_err());
    }
}
