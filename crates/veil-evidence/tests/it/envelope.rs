//! The evidence envelope and the single entry point, over real fixtures.

use time::macros::datetime;
use veil_evidence::{AttestationError, Evidence, Policy, RuntimeData, Tee, TrustAnchors, verify};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../../shared/fixtures/tee/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn cloud_policy() -> Policy {
    let mut p = Policy::default();
    p.intel.allow_smt = true;
    p.intel.allow_dynamic_platform = true;
    p.intel.allow_cached_keys = true;
    p
}

fn tdx_evidence() -> Evidence {
    Evidence {
        tee: Tee::Tdx,
        quote: hex::encode(fixture("intel/tdx_quote")),
        collateral: serde_json::from_slice(&fixture("intel/tdx_quote_collateral.json")).unwrap(),
        runtime_data: None,
        event_log: None,
    }
}

const TDX_NOW: u64 = datetime!(2025-07-04 00:00 UTC).unix_timestamp() as u64;

#[test]
fn intel_and_amd_evidence_verify_through_one_entry_point() {
    let c = verify(&tdx_evidence(), &TrustAnchors::vendor(), &cloud_policy(), TDX_NOW).unwrap();
    assert_eq!(c.tee, Tee::Tdx);
    let snp = Evidence {
        tee: Tee::Snp,
        quote: String::from_utf8(fixture("amd/report_milan.hex")).unwrap().trim().to_owned(),
        collateral: serde_json::Value::String(hex::encode(fixture("amd/vcek_milan.der"))),
        runtime_data: None,
        event_log: None,
    };
    let now = datetime!(2025-06-01 00:00 UTC).unix_timestamp() as u64;
    assert_eq!(verify(&snp, &TrustAnchors::vendor(), &Policy::default(), now).unwrap().tee, Tee::Snp);
}

#[test]
fn evidence_round_trips_through_json() {
    let e = tdx_evidence();
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(serde_json::from_str::<Evidence>(&json).unwrap(), e);
    assert!(serde_json::from_str::<Evidence>(&json.replacen("\"tee\"", "\"extra\":1,\"tee\"", 1)).is_err());
}

#[test]
fn runtime_data_the_quote_does_not_bind_is_refused() {
    // The real quote binds its own report_data, not this enclave key and nonce.
    let mut e = tdx_evidence();
    e.runtime_data = Some(RuntimeData {
        nonce: "aa".repeat(32),
        public_keys: [("hpke".to_owned(), "veilpk1…".to_owned())].into(),
        purpose: "kms/key-release".into(),
        issued_at: None,
    });
    let err = verify(&e, &TrustAnchors::vendor(), &cloud_policy(), TDX_NOW).unwrap_err();
    assert_eq!(err.code(), "attestation.binding", "{err}");
}

#[test]
fn mislabelled_or_untrusted_evidence_is_refused() {
    let mut e = tdx_evidence();
    e.tee = Tee::Sgx;
    assert_eq!(
        verify(&e, &TrustAnchors::vendor(), &cloud_policy(), TDX_NOW).unwrap_err().code(),
        "attestation.parse"
    );
    let none = TrustAnchors { intel_roots: vec![], amd_roots: vec![] };
    assert!(matches!(
        verify(&tdx_evidence(), &none, &cloud_policy(), TDX_NOW),
        Err(AttestationError::Chain(_))
    ));
    let mut bad = tdx_evidence();
    bad.quote = "zz".into();
    assert_eq!(
        verify(&bad, &TrustAnchors::vendor(), &cloud_policy(), TDX_NOW).unwrap_err().code(),
        "attestation.parse"
    );
}
