//! `veil attest verify` over the real Intel fixtures, clock pinned.

use crate::common;
use std::path::PathBuf;

use common::veil;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/tee").join(name);
    p.to_str().unwrap().to_owned()
}

fn policy(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("policy.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

const CLOUD: &str = "[intel]\nallow_smt = true\nallow_dynamic_platform = true\nallow_cached_keys = true\n";

#[test]
fn a_real_tdx_quote_prints_its_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = veil(&[
        "attest",
        "verify",
        "--evidence",
        &fixture("intel/tdx_quote"),
        "--collateral",
        &fixture("intel/tdx_quote_collateral.json"),
        "--at",
        "2025-07-04T00:00:00Z",
        "--policy",
        &policy(dir.path(), CLOUD),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["tee"], "tdx");
    assert_eq!(claims["tcb_status"], "UpToDate");
    assert_eq!(claims["dev_root"], false);
    // What a policy pins: the id over every identity register, not MRTD.
    let id = claims["measurement_id"].as_str().unwrap();
    assert_eq!(id.len(), 96);
    assert_ne!(id, claims["measurements"]["mr_td"].as_str().unwrap());
    for r in ["mr_td", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mr_config_id", "mr_owner", "mr_owner_config"] {
        assert_eq!(claims["measurements"][r].as_str().unwrap().len(), 96, "{r}");
    }
}

#[test]
fn refusals_exit_1_with_a_stable_code_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = policy(dir.path(), CLOUD);
    let cases = [
        (
            vec![
                "--evidence",
                "intel/sgx_quote",
                "--collateral",
                "intel/sgx_quote_collateral.json",
                "--at",
                "2025-07-04T00:00:00Z",
            ],
            "attestation.tcb_status",
        ),
        (
            vec![
                "--evidence",
                "intel/tdx_quote",
                "--collateral",
                "intel/tdx_quote_collateral.json",
                "--at",
                "2026-01-01T00:00:00Z",
            ],
            "attestation.collateral_expired",
        ),
        (
            vec![
                "--evidence",
                "intel/tdx_quote_outdated",
                "--collateral",
                "intel/tdx_quote_outdated_collateral.json",
                "--at",
                "2026-03-05T00:00:00Z",
            ],
            "attestation.tcb_status",
        ),
    ];
    for (args, code) in cases {
        let mut full = vec!["attest".to_owned(), "verify".to_owned(), "--policy".to_owned(), cloud.clone()];
        for (i, a) in args.iter().enumerate() {
            full.push(if i % 2 == 1 && a.contains('/') { fixture(a) } else { (*a).to_owned() });
        }
        let out = veil(&full.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(code), "{code}: {err}");
    }
}

#[test]
fn a_real_snp_report_in_hex_prints_its_claims() {
    let out = veil(&[
        "attest",
        "verify",
        "--evidence",
        &fixture("amd/report_milan.hex"),
        "--collateral",
        &fixture("amd/vcek_milan.der"),
        "--at",
        "2025-06-01T00:00:00Z",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["tee"], "snp");
    assert_eq!(claims["platform"]["reported_tcb"], "bl=3 tee=0 snp=8 ucode=115");
    // The VLEK report is at VMPL 1: refused by default, accepted when the policy says so.
    let dir = tempfile::tempdir().unwrap();
    let vlek = [
        "attest",
        "verify",
        "--evidence",
        &fixture("amd/trustee-test-vlek-report.bin"),
        "--collateral",
        &fixture("amd/trustee-test-vlek.der"),
        "--at",
        "2025-06-01T00:00:00Z",
    ];
    let out = veil(&vlek);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("attestation.policy"));
    let p = policy(dir.path(), "[snp]\nmax_vmpl = 1\n");
    let out = veil(&[&vlek[..], &["--policy", &p]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_evidence_envelope_verifies_with_its_own_collateral() {
    let dir = tempfile::tempdir().unwrap();
    let envelope = serde_json::json!({
        "tee": "snp",
        "quote": std::fs::read_to_string(fixture("amd/report_milan.hex")).unwrap().trim(),
        "collateral": hex::encode(std::fs::read(fixture("amd/vcek_milan.der")).unwrap()),
    });
    let path = dir.path().join("evidence.json");
    std::fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();
    let out =
        veil(&["attest", "verify", "--evidence", path.to_str().unwrap(), "--at", "2025-06-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&path, b"{\"tee\": \"snp\"}").unwrap();
    let out = veil(&["attest", "verify", "--evidence", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("evidence envelope"));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not evidence").unwrap();
    let out = veil(&["attest", "verify", "--evidence", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognised evidence"));
    let out = veil(&["attest", "verify", "--evidence", &fixture("intel/tdx_quote")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--collateral"));
    let out = veil(&[
        "attest",
        "verify",
        "--evidence",
        &fixture("intel/tdx_quote"),
        "--collateral",
        &fixture("intel/tdx_quote_collateral.json"),
        "--crl",
        junk.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--crl is AMD's CRL"));
    // A CRL that is not DER is a parse refusal for an SNP report.
    let out = veil(&[
        "attest",
        "verify",
        "--evidence",
        &fixture("amd/report_milan.hex"),
        "--collateral",
        &fixture("amd/vcek_milan.der"),
        "--at",
        "2025-06-01T00:00:00Z",
        "--crl",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("attestation.parse"));
    let typo = policy(dir.path(), "[intel]\nallow_smtx = true\n");
    let out = veil(&[
        "attest",
        "verify",
        "--evidence",
        &fixture("intel/tdx_quote"),
        "--collateral",
        &fixture("intel/tdx_quote_collateral.json"),
        "--policy",
        &typo,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
    let out = veil(&[
        "attest",
        "verify",
        "--evidence",
        &fixture("intel/tdx_quote"),
        "--collateral",
        &fixture("intel/tdx_quote_collateral.json"),
        "--at",
        "yesterday",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}
