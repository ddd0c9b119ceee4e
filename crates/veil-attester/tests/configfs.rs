//! configfs-tsm against a fake report entry that behaves like the kernel's: `outblob`
//! is a FIFO whose content is produced from `inblob` when it is read.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use veil_attester::{Attester, AttesterError, ConfigfsTsm};
use veil_evidence::Tee;

/// A fake entry; the "kernel" thread answers one read of outblob with
/// `b"QUOTE" ++ inblob`, then sets generation to `generation_after`.
fn fake_entry(
    dir: &Path,
    provider: &str,
    generation_after: u64,
) -> (PathBuf, std::thread::JoinHandle<Vec<u8>>) {
    let entry = dir.join("entry");
    std::fs::create_dir(&entry).unwrap();
    std::fs::write(entry.join("provider"), format!("{provider}\n")).unwrap();
    std::fs::write(entry.join("generation"), "7\n").unwrap();
    std::fs::write(entry.join("inblob"), b"").unwrap();
    assert!(Command::new("mkfifo").arg(entry.join("outblob")).status().unwrap().success());
    let e = entry.clone();
    let kernel = std::thread::spawn(move || {
        // Opening the FIFO for writing waits for the attester to open it for reading,
        // which it does only after writing inblob.
        let mut out = std::fs::OpenOptions::new().write(true).open(e.join("outblob")).unwrap();
        let mut inblob = Vec::new();
        std::fs::File::open(e.join("inblob")).unwrap().read_to_end(&mut inblob).unwrap();
        std::fs::write(e.join("generation"), format!("{generation_after}\n")).unwrap();
        out.write_all(b"QUOTE").unwrap();
        out.write_all(&inblob).unwrap();
        inblob
    });
    (entry, kernel)
}

#[test]
fn a_report_carries_exactly_our_report_data() {
    let dir = tempfile::tempdir().unwrap();
    let (entry, kernel) = fake_entry(dir.path(), "tdx_guest", 8);
    let report_data = [0x5a; 64];
    let ev = ConfigfsTsm::new(dir.path()).report_in(&entry, &report_data).unwrap();
    assert_eq!(kernel.join().unwrap(), report_data);
    assert_eq!(ev.tee, Tee::Tdx);
    assert_eq!(&ev.quote[..5], b"QUOTE");
    assert_eq!(&ev.quote[5..], &report_data);
    assert_eq!(ev.auxblob, None);
}

#[test]
fn snp_guests_and_their_auxblob_are_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let (entry, kernel) = fake_entry(dir.path(), "sev_guest", 8);
    std::fs::write(entry.join("auxblob"), b"certificate table").unwrap();
    let ev = ConfigfsTsm::new(dir.path()).report_in(&entry, &[1; 64]).unwrap();
    kernel.join().unwrap();
    assert_eq!(ev.tee, Tee::Snp);
    assert_eq!(ev.auxblob.as_deref(), Some(&b"certificate table"[..]));
}

#[test]
fn a_concurrent_writer_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    // Another writer bumped generation once more between our write and read.
    let (entry, kernel) = fake_entry(dir.path(), "tdx_guest", 9);
    let err = ConfigfsTsm::new(dir.path()).report_in(&entry, &[2; 64]).unwrap_err();
    kernel.join().unwrap();
    assert!(matches!(err, AttesterError::Race { before: 7, after: 9 }), "{err}");
}

#[test]
fn unknown_providers_and_non_configfs_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let entry = dir.path().join("entry");
    std::fs::create_dir(&entry).unwrap();
    std::fs::write(entry.join("provider"), "arm_cca_guest\n").unwrap();
    let err = ConfigfsTsm::new(dir.path()).report_in(&entry, &[0; 64]).unwrap_err();
    assert!(matches!(err, AttesterError::UnsupportedProvider(ref p) if p == "arm_cca_guest"), "{err}");
    // A plain directory: mkdir works but no attributes appear; the entry is removed again.
    let plain = tempfile::tempdir().unwrap();
    let err = ConfigfsTsm::new(plain.path()).attest(&[0; 64]).unwrap_err();
    assert!(matches!(err, AttesterError::NotConfigfs(..)), "{err}");
    assert_eq!(std::fs::read_dir(plain.path()).unwrap().count(), 0, "entry left behind");
    let missing = ConfigfsTsm::new(plain.path().join("no-such-dir")).attest(&[0; 64]).unwrap_err();
    assert!(matches!(missing, AttesterError::Io(..)), "{missing}");
}
