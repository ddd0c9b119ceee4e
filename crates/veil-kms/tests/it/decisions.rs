//! Release decisions over claims from real evidence, and single-use challenges.

use time::macros::datetime;
use veil_evidence::{Claims, Policy, Tee, TrustAnchors};
use veil_kms::{NonceStore, ReleasePolicy};

fn tdx_claims() -> Claims {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/tee/intel/");
    let evidence = veil_evidence::Evidence {
        tee: Tee::Tdx,
        quote: hex::encode(std::fs::read(format!("{dir}tdx_quote")).unwrap()),
        collateral: serde_json::from_slice(
            &std::fs::read(format!("{dir}tdx_quote_collateral.json")).unwrap(),
        )
        .unwrap(),
        runtime_data: None,
        event_log: None,
    };
    let mut policy = Policy::default();
    (policy.intel.allow_smt, policy.intel.allow_dynamic_platform, policy.intel.allow_cached_keys) =
        (true, true, true);
    let now = datetime!(2025-07-04 00:00 UTC).unix_timestamp() as u64;
    veil_evidence::verify(&evidence, &TrustAnchors::vendor(), &policy, now).unwrap()
}

fn policy(toml_text: &str) -> ReleasePolicy {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn an_allowlisted_measurement_receives_only_its_resources() {
    let claims = tdx_claims();
    let mr = claims.measurement_id.clone();
    let p = policy(&format!(
        "[measurements]\ntdx = [\"{mr}\"]\n[resources]\n\"{mr}\" = [\"token/42\", \"model/*\"]\n"
    ));
    p.allow(&claims, "token/42").unwrap();
    p.allow(&claims, "model/digits").unwrap();
    let err = p.allow(&claims, "token/43").unwrap_err();
    assert_eq!(err.code().as_str(), "kms.resource");
    // Upper-case hex in the policy file means the same measurement.
    let upper = policy(&format!(
        "[measurements]\ntdx = [\"{}\"]\n[resources]\n\"{mr}\" = [\"token/42\"]\n",
        mr.to_uppercase()
    ));
    upper.allow(&claims, "token/42").unwrap();
}

#[test]
fn mrtd_alone_admits_nothing_the_measurement_id_covers_every_register() {
    // Issue 14, finding 4: on TDX, MRTD measures the firmware; the kernel, command line
    // and application are in RTMR0-3. A policy that names MRTD names no software.
    let claims = tdx_claims();
    let mrtd = claims.measurements["mr_td"].clone();
    assert_ne!(mrtd, claims.measurement_id);
    let p =
        policy(&format!("[measurements]\ntdx = [\"{mrtd}\"]\n[resources]\n\"{mrtd}\" = [\"token/42\"]\n"));
    assert_eq!(p.allow(&claims, "token/42").unwrap_err().code().as_str(), "kms.measurement");
    // The same firmware with another application (RTMR3), kernel (RTMR1) or config id
    // is another measurement.
    for register in ["rtmr1", "rtmr3", "mr_config_id", "mr_owner"] {
        let mut other = claims.measurements.clone();
        other.insert(register.into(), "ff".repeat(48));
        let id = veil_evidence::measurement_id(Tee::Tdx, &other).unwrap();
        assert_ne!(id, claims.measurement_id, "{register}");
    }
    // MRSEAM is the TDX module's, judged by the TCB status: an update keeps the id.
    let mut updated = claims.measurements.clone();
    updated.insert("mr_seam".into(), "ff".repeat(48));
    assert_eq!(veil_evidence::measurement_id(Tee::Tdx, &updated).unwrap(), claims.measurement_id);
}

#[test]
fn everything_not_listed_is_denied() {
    let claims = tdx_claims();
    let mr = claims.measurement_id.clone();
    for (text, code) in [
        (String::new(), "kms.measurement"),
        ("[measurements]\ntdx = []\n".to_owned(), "kms.measurement"),
        (format!("[measurements]\nsnp = [\"{mr}\"]\n"), "kms.measurement"),
        (format!("[measurements]\ntdx = [\"{}\"]\n", "00".repeat(48)), "kms.measurement"),
        (format!("[measurements]\ntdx = [\"{mr}\"]\n"), "kms.resource"),
    ] {
        assert_eq!(policy(&text).allow(&claims, "token/42").unwrap_err().code().as_str(), code, "{text}");
    }
    assert!(
        toml::from_str::<ReleasePolicy>("[measurements]\ntdxx = []\n").is_err(),
        "unknown platforms are refused"
    );
    assert!(toml::from_str::<ReleasePolicy>("allow_all = true\n").is_err());
}

#[test]
fn a_nonce_is_accepted_once_and_only_before_it_expires() {
    let store = NonceStore::new(60, 100).unwrap();
    let c = store.issue(1_000).unwrap();
    assert_eq!(c.nonce.len(), 80);
    assert!(veil_protocol::is_challenge_nonce(&c.nonce), "fits an attestation's runtime data");
    assert_eq!(c.expires_at, 1_060);
    store.consume(&c.nonce, 1_030).unwrap();
    assert_eq!(store.consume(&c.nonce, 1_031).unwrap_err().code(), "attestation.replay");
    let late = store.issue(1_000).unwrap();
    assert_eq!(store.consume(&late.nonce, 1_061).unwrap_err().code(), "attestation.replay");
    assert_eq!(store.consume(&"ab".repeat(32), 1_000).unwrap_err().code(), "attestation.replay");
    assert_ne!(store.issue(1_000).unwrap().nonce, store.issue(1_000).unwrap().nonce);
}

/// Issue 14, finding 7: 10,000 outstanding challenges (60 s each) used to lock every
/// enclave out, at ~170 requests/s from anyone.
#[test]
fn strangers_cannot_use_up_the_challenges() {
    let store = NonceStore::new(60, 3).unwrap();
    for _ in 0..100_000 {
        store.issue(100).unwrap();
    }
    assert_eq!(store.spent(), 0, "issuing remembers nothing");
    // An enclave still gets and answers its challenge.
    let mine = store.issue(101).unwrap();
    store.consume(&mine.nonce, 102).expect("answered once");
    assert_eq!(store.consume(&mine.nonce, 103).unwrap_err().code(), "attestation.replay");
    // A nonce this store did not issue, or one altered by a bit, is refused.
    let other = NonceStore::new(60, 3).unwrap().issue(100).unwrap();
    assert_eq!(store.consume(&other.nonce, 100).unwrap_err().code(), "attestation.replay");
    let mut flipped = mine.nonce.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(store.consume(&flipped, 102).unwrap_err().code(), "attestation.replay");
    // Spent nonces are swept once expired.
    for _ in 0..3 {
        let c = store.issue(200).unwrap();
        store.consume(&c.nonce, 200).unwrap();
    }
    let late = store.issue(300).unwrap();
    store.consume(&late.nonce, 300).unwrap();
    assert!(store.spent() <= 2, "{}", store.spent());
}
