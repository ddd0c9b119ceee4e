//! The master secret survives restarts, never sits on disk in plaintext, and yields
//! independent per-resource keys.

use veil_kms::{MasterError, MasterSecret};
use veil_seal::Identity;

#[test]
fn keys_survive_a_restart_and_differ_per_resource() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.sealed");
    let id = Identity::generate().unwrap();
    let first = MasterSecret::open_or_create(&path, &id).unwrap();
    let k42 = first.resource_key("token/42");
    assert_ne!(*k42, *first.resource_key("token/43"));
    assert_ne!(*k42, [0u8; 32]);
    drop(first);
    let again = MasterSecret::open_or_create(&path, &id).unwrap();
    assert_eq!(*again.resource_key("token/42"), *k42);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(!format!("{again:?}").contains(&hex::encode(*k42)));
}

#[test]
fn the_file_is_sealed_and_refuses_strangers_and_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.sealed");
    let id = Identity::generate().unwrap();
    MasterSecret::open_or_create(&path, &id).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"VEILSEAL"), "stored sealed, not in plaintext");
    let stranger = Identity::generate().unwrap();
    assert!(matches!(
        MasterSecret::open_or_create(&path, &stranger),
        Err(MasterError::Seal(_))
    ));
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_ne!(bad, bytes);
    std::fs::write(&path, &bad).unwrap();
    assert!(matches!(
        MasterSecret::open_or_create(&path, &id),
        Err(MasterError::Seal(_))
    ));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bad,
        "a failed open must not replace the file"
    );
}
