//! Real Intel evidence from ../shared/fixtures/tee/intel, verified with the clock
//! pinned inside each collateral's validity window.

use base64::Engine;
use time::macros::datetime;
use veil_evidence::{AttestationError, IntelPolicy, Tee, intel_root_ca, verify_intel_quote};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../../shared/fixtures/tee/intel/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn at(t: time::OffsetDateTime) -> u64 {
    t.unix_timestamp() as u64
}

/// Mid-window times from SOURCES.md.
const TDX_NOW: time::OffsetDateTime = datetime!(2025-07-04 00:00 UTC);
const SGX_NOW: time::OffsetDateTime = datetime!(2025-07-04 00:00 UTC);
const OUTDATED_NOW: time::OffsetDateTime = datetime!(2026-03-05 00:00 UTC);
const TD15EX_NOW: time::OffsetDateTime = datetime!(2026-10-22 00:00 UTC);

fn verify(
    quote: &[u8],
    collateral: &[u8],
    policy: &IntelPolicy,
    now: time::OffsetDateTime,
) -> Result<veil_evidence::Claims, AttestationError> {
    verify_intel_quote(quote, collateral, intel_root_ca(), policy, at(now))
}

fn permissive_for_fixtures() -> IntelPolicy {
    // The fixtures come from multi-package cloud hosts (dynamic platform, cached
    // platform keys) with hyperthreading on: a policy must say it accepts that.
    IntelPolicy {
        allow_smt: true,
        allow_dynamic_platform: true,
        allow_cached_keys: true,
        ..IntelPolicy::default()
    }
}

#[test]
fn the_pinned_intel_root_is_the_root_of_real_collateral() {
    let collateral: serde_json::Value =
        serde_json::from_slice(&fixture("tdx_quote_collateral.json")).unwrap();
    let chain = collateral["pck_crl_issuer_chain"].as_str().unwrap();
    let last_pem = chain.split("-----BEGIN CERTIFICATE-----").last().unwrap();
    let b64: String = last_pem.replace("-----END CERTIFICATE-----", "").split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    assert_eq!(der, intel_root_ca());
}

#[test]
fn tdx_v4_quote_verifies_up_to_date() {
    let c = verify(
        &fixture("tdx_quote"),
        &fixture("tdx_quote_collateral.json"),
        &permissive_for_fixtures(),
        TDX_NOW,
    )
    .unwrap();
    assert_eq!(c.tee, Tee::Tdx);
    assert_eq!(c.quote_version, 4);
    assert_eq!(c.tcb_status, "UpToDate");
    assert!(!c.debug && !c.dev_root);
    assert_eq!(c.measurements["mr_td"].len(), 96);
    assert!(c.collateral_expires_at > at(TDX_NOW));
}

#[test]
fn tdx_v5_td15ex_quote_verifies_up_to_date() {
    let c = verify(
        &fixture("tdx_quote_td15ex"),
        &fixture("tdx_quote_td15ex_collateral.json"),
        &permissive_for_fixtures(),
        TD15EX_NOW,
    )
    .unwrap();
    assert_eq!((c.tee, c.quote_version, c.tcb_status.as_str()), (Tee::Tdx, 5, "UpToDate"));
}

#[test]
fn sgx_quote_needs_its_status_and_advisories_listed() {
    let (q, col) = (fixture("sgx_quote"), fixture("sgx_quote_collateral.json"));
    match verify(&q, &col, &permissive_for_fixtures(), SGX_NOW) {
        Err(AttestationError::TcbStatus { status, advisories }) => {
            assert_eq!(status, "ConfigurationAndSWHardeningNeeded");
            assert_eq!(advisories, ["INTEL-SA-00289", "INTEL-SA-00615"]);
        }
        other => panic!("expected a TCB status refusal, got {other:?}"),
    }
    // Listing the status but only one advisory still refuses, naming the other.
    let mut policy = permissive_for_fixtures();
    policy.allowed_statuses.push("ConfigurationAndSWHardeningNeeded".into());
    policy.allowed_advisories = vec!["INTEL-SA-00289".into()];
    match verify(&q, &col, &policy, SGX_NOW) {
        Err(AttestationError::TcbStatus { advisories, .. }) => assert_eq!(advisories, ["INTEL-SA-00615"]),
        other => panic!("expected a refusal for INTEL-SA-00615, got {other:?}"),
    }
    policy.allowed_advisories.push("INTEL-SA-00615".into());
    let c = verify(&q, &col, &policy, SGX_NOW).unwrap();
    assert_eq!(c.tee, Tee::Sgx);
    assert_eq!(c.advisory_ids, ["INTEL-SA-00289", "INTEL-SA-00615"]);
    // report_data "Hello, world!" (zero-padded), as documented for this fixture.
    assert!(c.report_data.starts_with(&hex::encode(b"Hello, world!")));
}

#[test]
fn outdated_tdx_quote_is_refused() {
    let err = verify(
        &fixture("tdx_quote_outdated"),
        &fixture("tdx_quote_outdated_collateral.json"),
        &permissive_for_fixtures(),
        OUTDATED_NOW,
    )
    .unwrap_err();
    assert_eq!(err.code(), "attestation.tcb_status", "{err}");
}

#[test]
fn collateral_outside_its_window_is_refused() {
    let (q, col) = (fixture("tdx_quote"), fixture("tdx_quote_collateral.json"));
    for now in [datetime!(2025-08-01 00:00 UTC), datetime!(2030-01-01 00:00 UTC)] {
        let err = verify(&q, &col, &permissive_for_fixtures(), now).unwrap_err();
        assert_eq!(err.code(), "attestation.collateral_expired", "{now}: {err}");
    }
}

#[test]
fn a_foreign_root_is_refused() {
    let (q, col) = (fixture("tdx_quote"), fixture("tdx_quote_collateral.json"));
    // Any other CA: here the PCK Platform CA, which Intel's root signed but is not it.
    let collateral: serde_json::Value = serde_json::from_slice(&col).unwrap();
    let first = collateral["pck_crl_issuer_chain"]
        .as_str()
        .unwrap()
        .split("-----END CERTIFICATE-----")
        .next()
        .unwrap();
    let b64: String = first.replace("-----BEGIN CERTIFICATE-----", "").split_whitespace().collect();
    let other = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    assert_ne!(other, intel_root_ca());
    let err = verify_intel_quote(&q, &col, &other, &permissive_for_fixtures(), at(TDX_NOW)).unwrap_err();
    assert!(matches!(err, AttestationError::Chain(_) | AttestationError::Signature(_)), "{err}");
}

#[test]
fn flipped_bytes_in_body_signature_and_collateral_are_refused() {
    let (q, col) = (fixture("tdx_quote"), fixture("tdx_quote_collateral.json"));
    // Offsets in a v4 TDX quote: 48-byte header, then the TD report (mr_td at +136),
    // then the signature data length (4 bytes) and the ECDSA signature.
    for (what, offset) in
        [("mr_td", 48 + 136), ("report_data", 48 + 520), ("quote signature", 48 + 584 + 4 + 10)]
    {
        let mut bad = q.clone();
        bad[offset] ^= 0x01;
        assert_ne!(bad, q);
        let err = verify(&bad, &col, &permissive_for_fixtures(), TDX_NOW).unwrap_err();
        assert_eq!(err.code(), "attestation.signature", "{what}: {err}");
    }
    let text = String::from_utf8(col.clone()).unwrap();
    let tampered = text.replacen("\\\"tcbEvaluationDataNumber\\\":", "\\\"tcbEvaluationDataNumber\\\":1", 1);
    assert_ne!(tampered, text, "the collateral edit must change something");
    let err = verify(&q, tampered.as_bytes(), &permissive_for_fixtures(), TDX_NOW).unwrap_err();
    assert!(matches!(err, AttestationError::Signature(_) | AttestationError::Parse(_)), "{err}");
    let err = verify(&q[..q.len() / 2], &col, &permissive_for_fixtures(), TDX_NOW).unwrap_err();
    assert_eq!(err.code(), "attestation.parse", "{err}");
    assert_eq!(
        verify(b"", &col, &permissive_for_fixtures(), TDX_NOW).unwrap_err().code(),
        "attestation.parse"
    );
}

#[test]
fn the_default_policy_refuses_what_it_does_not_list() {
    // Default: UpToDate only and no optional platform features; the cloud fixture is
    // a dynamic platform, which the default does not list.
    let (q, col) = (fixture("tdx_quote"), fixture("tdx_quote_collateral.json"));
    let err = verify(&q, &col, &IntelPolicy::default(), TDX_NOW).unwrap_err();
    assert_eq!(err.code(), "attestation.policy", "{err}");
    // Each platform feature must be accepted on its own: this platform is both
    // dynamic and uses cached keys, so dropping either from the policy refuses it.
    for policy in [
        IntelPolicy { allow_dynamic_platform: false, ..permissive_for_fixtures() },
        IntelPolicy { allow_cached_keys: false, ..permissive_for_fixtures() },
    ] {
        let err = verify(&q, &col, &policy, TDX_NOW).unwrap_err();
        assert_eq!(err.code(), "attestation.policy", "{err}");
    }
}
