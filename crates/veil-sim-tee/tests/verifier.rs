//! Simulated quotes through the unchanged production verifier.

use std::sync::Arc;

use veil_attester::Attester;
use veil_evidence::{AttestationError, IntelPolicy, intel_root_ca, verify_intel_quote};
use veil_sim_tee::{DevPki, Faults, SimMeasurement, SimTdx};

/// 2026-03-01T00:00:00Z: the clock is pinned, the collateral dated from it.
const NOW: u64 = 1_772_323_200;
const SEED: [u8; 32] = [7u8; 32];

fn now() -> u64 {
    NOW
}

fn pki() -> Arc<DevPki> {
    Arc::new(DevPki::from_seed(&SEED).expect("dev PKI"))
}

fn measurement(tag: u8) -> SimMeasurement {
    SimMeasurement::from_digests([tag; 48], [2; 48], &[3; 32])
}

fn attest(pki: &Arc<DevPki>, m: SimMeasurement, faults: Faults) -> (Vec<u8>, Vec<u8>) {
    let ev =
        SimTdx::new(pki.clone(), m).with_faults(faults).with_clock(now).attest(&[0x5a; 64]).expect("attest");
    (ev.quote, serde_json::to_vec(&ev.collateral.expect("collateral")).expect("json"))
}

fn verify(
    pki: &DevPki,
    quote: &[u8],
    collateral: &[u8],
    at: u64,
) -> Result<veil_evidence::Claims, AttestationError> {
    verify_intel_quote(quote, collateral, pki.root_der(), &IntelPolicy::default(), at)
}

#[test]
fn simulated_quote_verifies_under_the_dev_root_only() {
    let pki = pki();
    let m = measurement(1);
    let (quote, collateral) = attest(&pki, m.clone(), Faults::default());
    assert_eq!(u16::from_le_bytes([quote[0], quote[1]]), 4, "a TDX quote v4");
    let claims = verify(&pki, &quote, &collateral, NOW).expect("dev root accepts it");
    assert_eq!(claims.tcb_status, "UpToDate");
    assert!(claims.dev_root);
    // Every register as the simulator laid it out, and the id a policy pins.
    for (name, value) in m.registers() {
        assert_eq!(claims.measurements[&name], value, "{name}");
    }
    assert_eq!(claims.measurement_id, m.measurement_id());
    assert_eq!(claims.report_data, hex::encode([0x5a; 64]));
    assert_eq!(claims.platform["fmspc"], hex::encode(veil_sim_tee::DEV_FMSPC));

    let err = verify_intel_quote(&quote, &collateral, intel_root_ca(), &IntelPolicy::default(), NOW)
        .expect_err("Intel's root must refuse dev evidence");
    assert_eq!(err.code(), "attestation.chain", "{err}");
}

#[test]
fn the_seed_fixes_the_root_and_another_seed_is_another_pki() {
    let a = DevPki::from_seed(&SEED).expect("pki");
    let b = DevPki::from_seed(&SEED).expect("pki");
    assert_eq!(a.root_der(), b.root_der());
    let other = DevPki::from_seed(&[8u8; 32]).expect("pki");
    assert_ne!(a.root_der(), other.root_der());
    let (quote, collateral) = attest(&Arc::new(other), measurement(1), Faults::default());
    let err = verify(&a, &quote, &collateral, NOW).expect_err("foreign PKI");
    assert_eq!(err.code(), "attestation.chain", "{err}");
}

#[test]
fn every_fault_knob_is_refused_with_its_own_error() {
    let pki = pki();
    let cases: Vec<(Faults, &str)> = vec![
        (Faults { debug: true, ..Faults::default() }, "attestation.debug"),
        (
            Faults {
                tcb_status: Some("OutOfDate".into()),
                advisories: vec!["INTEL-SA-00837".into()],
                ..Faults::default()
            },
            "attestation.tcb_status",
        ),
        (Faults { revoked_pck: true, ..Faults::default() }, "attestation.revoked"),
        (Faults { expired_collateral: true, ..Faults::default() }, "attestation.collateral_expired"),
        (Faults { wrong_fmspc: true, ..Faults::default() }, "attestation.policy"),
    ];
    for (faults, code) in cases {
        let (quote, collateral) = attest(&pki, measurement(1), faults.clone());
        let err = verify(&pki, &quote, &collateral, NOW).expect_err("fault must be refused");
        assert_eq!(err.code(), code, "{faults:?}: {err}");
    }
}

#[test]
fn out_of_date_is_accepted_only_when_policy_lists_it_and_its_advisories() {
    let pki = pki();
    let faults = Faults {
        tcb_status: Some("OutOfDate".into()),
        advisories: vec!["INTEL-SA-00837".into()],
        ..Faults::default()
    };
    let (quote, collateral) = attest(&pki, measurement(1), faults);
    let mut policy = IntelPolicy {
        allowed_statuses: vec!["UpToDate".into(), "OutOfDate".into()],
        ..IntelPolicy::default()
    };
    let err = verify_intel_quote(&quote, &collateral, pki.root_der(), &policy, NOW)
        .expect_err("advisory not listed");
    assert!(
        matches!(&err, AttestationError::TcbStatus { advisories, .. } if advisories == &["INTEL-SA-00837"]),
        "{err}"
    );
    policy.allowed_advisories.push("INTEL-SA-00837".into());
    let claims = verify_intel_quote(&quote, &collateral, pki.root_der(), &policy, NOW).expect("listed");
    assert_eq!(claims.tcb_status, "OutOfDate");
}

#[test]
fn other_software_on_the_same_firmware_has_the_same_mr_td_and_another_measurement() {
    // Issue 14, finding 4: MRTD is the firmware's, so a policy over MRTD alone would let
    // any application through. The binary, config and model set land in RTMR3 and
    // change the measurement id a policy pins.
    let base = SimMeasurement::from_digests([1; 48], [2; 48], &[3; 32]);
    let variants = [
        SimMeasurement::from_digests([9; 48], [2; 48], &[3; 32]),
        SimMeasurement::from_digests([1; 48], [9; 48], &[3; 32]),
        SimMeasurement::from_digests([1; 48], [2; 48], &[9; 32]),
    ];
    for v in variants {
        assert_eq!(v.mr_td(), base.mr_td(), "one firmware");
        assert_eq!(v.rtmrs()[..3], base.rtmrs()[..3], "one boot chain");
        assert_ne!(v.rtmrs()[3], base.rtmrs()[3]);
        assert_ne!(v.measurement_id(), base.measurement_id());
    }
}

#[test]
fn the_event_log_comes_with_the_evidence_and_replays_to_its_registers() {
    let pki = pki();
    let m = measurement(1);
    let tdx = SimTdx::new(pki.clone(), m.clone()).with_clock(now);
    let rd = veil_evidence::RuntimeData {
        nonce: "n".into(),
        public_keys: Default::default(),
        purpose: "test".into(),
        issued_at: None,
    };
    let evidence = veil_attester::evidence_for(&tdx, rd).expect("evidence");
    let anchors =
        veil_evidence::TrustAnchors { intel_roots: vec![pki.root_der().to_vec()], amd_roots: vec![] };
    let policy = veil_evidence::Policy::default();
    let claims = veil_evidence::verify(&evidence, &anchors, &policy, NOW).expect("verifies");
    assert_eq!(claims.event_log, m.event_log());
    assert_eq!(claims.event_log.len(), 6);
    assert!(claims.event_log.iter().filter(|e| e.rtmr == 3).count() == 3, "binary, config, models");
    // A host that swaps in another binary's digest (to show a reviewer the software it
    // claims) is caught by the replay; so is a dropped event.
    let mut forged = evidence.clone();
    forged.event_log.as_mut().unwrap()[3].digest = hex::encode([9u8; 48]);
    assert_ne!(forged, evidence);
    let err = veil_evidence::verify(&forged, &anchors, &policy, NOW).unwrap_err();
    assert_eq!(err.code(), "attestation.event_log", "{err}");
    let mut dropped = evidence.clone();
    dropped.event_log.as_mut().unwrap().pop();
    let err = veil_evidence::verify(&dropped, &anchors, &policy, NOW).unwrap_err();
    assert_eq!(err.code(), "attestation.event_log", "{err}");
    // Evidence without a log still verifies (real guests may not send one); the id
    // still pins every register.
    let mut bare = evidence;
    bare.event_log = None;
    let claims = veil_evidence::verify(&bare, &anchors, &policy, NOW).expect("verifies");
    assert!(claims.event_log.is_empty());
    assert_eq!(claims.measurement_id, m.measurement_id());
}

#[test]
fn measuring_a_real_file_reads_all_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("worker");
    std::fs::write(&bin, vec![0xabu8; 200_000]).expect("write");
    let config = serde_json::json!({ "b": 1, "a": [true] });
    let m = SimMeasurement::of(&bin, &config, &[3; 32]).expect("measure");
    use sha2::Digest;
    assert_eq!(m.binary, <[u8; 48]>::from(sha2::Sha384::digest(vec![0xabu8; 200_000])));
    assert_eq!(m.config, <[u8; 48]>::from(sha2::Sha384::digest(br#"{"a":[true],"b":1}"#)));
    std::fs::write(&bin, vec![0xacu8; 200_000]).expect("rewrite");
    assert_ne!(
        SimMeasurement::of(&bin, &config, &[3; 32]).expect("measure").measurement_id(),
        m.measurement_id()
    );
}

#[test]
fn tampered_simulated_quotes_are_refused() {
    let pki = pki();
    let (quote, collateral) = attest(&pki, measurement(1), Faults::default());
    // A flipped bit in MRTD (body), in the quote signature, and in the TCB info.
    for (offset, code) in
        [(48 + 136 + 5, "attestation.signature"), (48 + 584 + 4 + 3, "attestation.signature")]
    {
        let mut q = quote.clone();
        q[offset] ^= 1;
        assert_ne!(q, quote);
        let err = verify(&pki, &q, &collateral, NOW).expect_err("tampered");
        assert_eq!(err.code(), code, "offset {offset}: {err}");
    }
    let mut c: serde_json::Value = serde_json::from_slice(&collateral).expect("json");
    let tcb = c["tcb_info"].as_str().expect("str").replace("\"pcesvn\":11", "\"pcesvn\":10");
    assert_ne!(tcb, c["tcb_info"].as_str().expect("str"));
    c["tcb_info"] = tcb.into();
    let err =
        verify(&pki, &quote, &serde_json::to_vec(&c).expect("json"), NOW).expect_err("tampered TCB info");
    assert_eq!(err.code(), "attestation.signature", "{err}");
}
