//! report_data = SHA-512(domain ‖ JCS(runtime_data)), pinned and checked both ways.

use veil_evidence::{AttestationError, RuntimeData, check_binding, expected_report_data};

fn sample() -> RuntimeData {
    RuntimeData {
        nonce: "00112233".into(),
        public_keys: [("hpke".to_owned(), "veilpk1x".to_owned()), ("ed25519".to_owned(), "ab".to_owned())]
            .into(),
        purpose: "kms/key-release".into(),
        issued_at: None,
    }
}

#[test]
fn report_data_is_pinned() {
    // Cross-checked with Python: sha512(domain + json.dumps(rd, sort_keys=True, separators=(",", ":"))).
    assert_eq!(
        hex::encode(expected_report_data(&sample()).unwrap()),
        "3a3671192a99673b7a710aa14be5b6be9cc0c506337cbbd88c51fa8c704ab88925fc5b2e250e6a50bc4d6e654950b45d40ac28acdd9d64271981de7bc4a39b60"
    );
}

#[test]
fn binding_accepts_its_own_data_and_refuses_any_change() {
    let rd = sample();
    let bound = hex::encode(expected_report_data(&rd).unwrap());
    check_binding(&bound, &rd).unwrap();
    let mut other_nonce = rd.clone();
    other_nonce.nonce = "00112234".into();
    let mut other_key = rd.clone();
    other_key.public_keys.insert("hpke".into(), "veilpk1y".into());
    let mut other_purpose = rd.clone();
    other_purpose.purpose = "gateway/infer".into();
    let mut other_time = rd.clone();
    other_time.issued_at = Some(1_800_000_000);
    for changed in [other_nonce, other_key, other_purpose, other_time] {
        assert_ne!(changed, rd);
        assert!(matches!(check_binding(&bound, &changed), Err(AttestationError::Binding(_))));
    }
}

#[test]
fn errors_serialise_to_stable_codes() {
    let e =
        AttestationError::TcbStatus { status: "OutOfDate".into(), advisories: vec!["INTEL-SA-00615".into()] };
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["code"], "attestation.tcb_status");
    assert!(json["detail"].as_str().unwrap().contains("INTEL-SA-00615"));
}
