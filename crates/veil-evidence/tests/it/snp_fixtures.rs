//! Real AMD SEV-SNP evidence from ../shared/fixtures/tee/amd, clock pinned.

use time::macros::datetime;
use veil_evidence::{AttestationError, SnpPolicy, SnpTcb, Tee, amd_roots, verify_snp_report};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../../shared/fixtures/tee/amd/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn milan_report() -> Vec<u8> {
    hex::decode(String::from_utf8(fixture("report_milan.hex")).unwrap().trim()).unwrap()
}

const NOW: time::OffsetDateTime = datetime!(2025-06-01 00:00 UTC);

fn at(t: time::OffsetDateTime) -> u64 {
    t.unix_timestamp() as u64
}

fn verify(
    report: &[u8],
    vek: &[u8],
    policy: &SnpPolicy,
    now: time::OffsetDateTime,
) -> Result<veil_evidence::Claims, AttestationError> {
    verify_snp_report(report, vek, amd_roots(), policy, at(now))
}

#[test]
fn milan_vcek_report_verifies_with_its_tcb_and_chip() {
    let c = verify(&milan_report(), &fixture("vcek_milan.der"), &SnpPolicy::default(), NOW).unwrap();
    assert_eq!(c.tee, Tee::Snp);
    assert_eq!(c.platform["reported_tcb"], "bl=3 tee=0 snp=8 ucode=115");
    assert_eq!(c.platform["signing_key"], "VCEK");
    assert_eq!(c.measurements["measurement"].len(), 96);
    assert!(!c.debug);
}

#[test]
fn the_pinned_amd_bundles_match_the_published_chain() {
    // cert_chain_milan (from virtee/sev) holds the same ASK and ARK as the pinned bundle.
    let chain = String::from_utf8(fixture("cert_chain_milan")).unwrap();
    let pinned = String::from_utf8(amd_roots()[0].to_vec()).unwrap();
    let body = |pem: &str| pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>();
    for block in chain.split_inclusive("-----END CERTIFICATE-----").filter(|b| b.contains("BEGIN")) {
        assert!(body(&pinned).contains(&body(block)), "a Milan chain certificate is not pinned");
    }
}

#[test]
fn trustee_vcek_report_verifies() {
    verify(
        &fixture("trustee-test-report.bin"),
        &fixture("trustee-test-vcek.der"),
        &SnpPolicy::default(),
        NOW,
    )
    .unwrap();
}

#[test]
fn vlek_report_verifies_in_its_window_at_vmpl1_only_when_allowed() {
    let (report, vlek) = (fixture("trustee-test-vlek-report.bin"), fixture("trustee-test-vlek.der"));
    let vmpl1 = SnpPolicy { max_vmpl: 1, ..SnpPolicy::default() };
    let c = verify(&report, &vlek, &vmpl1, NOW).unwrap();
    assert_eq!(c.platform["signing_key"], "VLEK");
    assert_eq!(c.measurements["vmpl"], "1");
    let err = verify(&report, &vlek, &SnpPolicy::default(), NOW).unwrap_err();
    assert_eq!(err.code(), "attestation.policy", "{err}");
    // The VLEK expires on 2025-12-10.
    let err = verify(&report, &vlek, &vmpl1, datetime!(2025-12-11 00:00 UTC)).unwrap_err();
    assert_eq!(err.code(), "attestation.collateral_expired", "{err}");
}

#[test]
fn broken_and_mismatched_veks_are_refused() {
    let report = fixture("trustee-test-report.bin");
    for bad in ["trustee-test-vcek-invalid-legacy.der", "trustee-test-vcek-invalid-new.der"] {
        let err = verify(&report, &fixture(bad), &SnpPolicy::default(), NOW).unwrap_err();
        assert!(
            matches!(
                err,
                AttestationError::Chain(_) | AttestationError::Signature(_) | AttestationError::Parse(_)
            ),
            "{bad}: {err}"
        );
    }
    // Another chip's valid VCEK.
    let err = verify(&report, &fixture("vcek_milan.der"), &SnpPolicy::default(), NOW).unwrap_err();
    assert!(matches!(err, AttestationError::Signature(_) | AttestationError::Chain(_)), "{err}");
}

#[test]
fn flipped_bytes_in_report_and_signature_are_refused() {
    let good = milan_report();
    let vcek = fixture("vcek_milan.der");
    // measurement at 0x90, report_data at 0x50, signature from 0x2A0.
    for (what, offset) in [("report_data", 0x50), ("measurement", 0x90), ("signature r", 0x2A0 + 3)] {
        let mut bad = good.clone();
        bad[offset] ^= 0x01;
        assert_ne!(bad, good);
        let err = verify(&bad, &vcek, &SnpPolicy::default(), NOW).unwrap_err();
        assert_eq!(err.code(), "attestation.signature", "{what}: {err}");
    }
    assert_eq!(
        verify(&good[..1000], &vcek, &SnpPolicy::default(), NOW).unwrap_err().code(),
        "attestation.parse"
    );
    assert_eq!(
        verify(&good, b"not a certificate", &SnpPolicy::default(), NOW).unwrap_err().code(),
        "attestation.parse"
    );
}

#[test]
fn outside_the_vcek_window_and_below_the_minimum_tcb_are_refused() {
    let (report, vcek) = (milan_report(), fixture("vcek_milan.der"));
    let err = verify(&report, &vcek, &SnpPolicy::default(), datetime!(2031-01-01 00:00 UTC)).unwrap_err();
    assert_eq!(err.code(), "attestation.collateral_expired", "{err}");
    let strict = SnpPolicy {
        min_tcb: Some(SnpTcb { bootloader: 3, tee: 0, snp: 9, microcode: 115 }),
        ..SnpPolicy::default()
    };
    let err = verify(&report, &vcek, &strict, NOW).unwrap_err();
    assert_eq!(err.code(), "attestation.tcb_status", "{err}");
    let met = SnpPolicy {
        min_tcb: Some(SnpTcb { bootloader: 3, tee: 0, snp: 8, microcode: 115 }),
        ..SnpPolicy::default()
    };
    verify(&report, &vcek, &met, NOW).unwrap();
}

#[test]
fn without_a_matching_pinned_root_nothing_verifies() {
    let genoa_only: [&[u8]; 1] = [amd_roots()[1]];
    let err = verify_snp_report(
        &milan_report(),
        &fixture("vcek_milan.der"),
        &genoa_only,
        &SnpPolicy::default(),
        at(NOW),
    )
    .unwrap_err();
    assert_eq!(err.code(), "attestation.chain", "{err}");
}
