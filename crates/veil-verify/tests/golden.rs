//! A receipt signed by an attested worker of `veil demo` (simulated TDX, its dev root
//! committed beside it) must keep verifying as the code moves: the wire format of
//! receipts, their events and their evidence is a promise to everyone who kept one.
//! Verification runs at the receipt's own time, so the clock is pinned by the file.

use veil_evidence::TrustAnchors;
use veil_receipt::events::{
    DataLoaded, InferenceCompleted, KeyReleased, ModelLoaded, NftAuthorized, Payload, RequestReceived,
    ResponseReturned,
};
use veil_verify::{Trust, verify};
use veil_zk::Fr;

const RECEIPT: &[u8] = include_bytes!("data/golden-tee-receipt.json");
const DEV_ROOT: &[u8] = include_bytes!("data/golden-dev-root.der");
/// The measurement id of the golden receipt's evidence (over every register).
const MEASUREMENT: &str =
    "2f5b65ca22d5d4b35eeef7e35c06a97414dcb0fe18997fb04799be76270cc1be05ffd2186107a43d631a15d3fc5c2fa3";
/// Its MRTD, which its events state (receipts named the first register before ids).
const MRTD: &str =
    "6c024dabfcdda96d687fda7f80da3605f8f29dff3b086c4be47d0123327d9620502619d1183cf2b93de2f4ebd6ebaa8e";

fn trust() -> Trust {
    let mut anchors = TrustAnchors::vendor();
    anchors.intel_roots.push(DEV_ROOT.to_vec());
    Trust { anchors, measurements: vec![MEASUREMENT.into()], ..Trust::default() }
}

#[test]
fn the_golden_receipt_still_verifies() {
    let report = verify(RECEIPT, &trust()).expect("the golden receipt verifies");
    assert_eq!(report.verified.receipt.events.len(), 7);
    assert!(report.verified.receipt.dev_root);
}

#[test]
fn it_is_refused_without_the_dev_root_or_under_another_measurement() {
    let mut vendor_only = trust();
    vendor_only.anchors = TrustAnchors::vendor();
    assert!(verify(RECEIPT, &vendor_only).is_err());
    let mut other = trust();
    other.measurements = vec!["00".repeat(48)];
    assert!(verify(RECEIPT, &other).is_err());
    // Issue 14, finding 4: MRTD alone names no software; trusting it admits nothing.
    assert!(String::from_utf8_lossy(RECEIPT).contains(MRTD), "the receipt states its MRTD");
    other.measurements = vec![MRTD.into()];
    assert!(matches!(verify(RECEIPT, &other), Err(veil_verify::VerifyError::Measurement(_))));
}

/// Whether an event reads into its type and writes back to the same data.
type RoundTrip = fn(&veil_receipt::Event) -> bool;

fn round_trips<P: Payload>(e: &veil_receipt::Event) -> bool {
    let typed: P = e.payload::<P>().expect("this type").expect("its data fits the type");
    let again = veil_receipt::Event::of(time::OffsetDateTime::UNIX_EPOCH, &typed);
    again.data == e.data
}

/// Every event the worker wrote reads back into its type and writes back to the same
/// object: the typed events are the wire format, not an approximation of it.
#[test]
fn every_event_round_trips_through_its_type() {
    let doc: serde_json::Value = serde_json::from_slice(RECEIPT).unwrap();
    let events: Vec<veil_receipt::Event> = serde_json::from_value(doc["receipt"]["events"].clone()).unwrap();
    let checks: [(&str, RoundTrip); 7] = [
        (RequestReceived::KIND, round_trips::<RequestReceived>),
        (NftAuthorized::KIND, round_trips::<NftAuthorized>),
        (KeyReleased::KIND, round_trips::<KeyReleased>),
        (DataLoaded::KIND, round_trips::<DataLoaded>),
        (ModelLoaded::KIND, round_trips::<ModelLoaded>),
        (InferenceCompleted::KIND, round_trips::<InferenceCompleted>),
        (ResponseReturned::KIND, round_trips::<ResponseReturned>),
    ];
    assert_eq!(events.len(), checks.len());
    for (e, (kind, check)) in events.iter().zip(checks) {
        assert_eq!(e.kind, kind);
        assert!(check(e), "{kind} does not round-trip");
    }
}

#[test]
fn any_edit_to_an_event_is_refused() {
    let original: serde_json::Value = serde_json::from_slice(RECEIPT).unwrap();
    for (i, field, value) in [
        (1, "user", serde_json::json!("0x0000000000000000000000000000000000000001")),
        (3, "bytes", serde_json::json!(1)),
        (6, "body_hash", serde_json::json!(format!("0x{}", "ab".repeat(32)))),
    ] {
        let mut doc = original.clone();
        doc["receipt"]["events"][i]["data"][field] = value;
        assert_ne!(doc, original, "the edit changed the receipt");
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert!(verify(&bytes, &trust()).is_err(), "event {i}.{field} edited");
    }
}

/// The golden receipt's evidence answered the key broker's challenge: it verifies as
/// that answer, and as nothing else (another nonce, another purpose).
#[test]
fn evidence_answers_only_its_own_challenge() {
    let doc: serde_json::Value = serde_json::from_slice(RECEIPT).unwrap();
    let evidence: veil_evidence::Evidence =
        serde_json::from_value(doc["receipt"]["evidence"]["attestation"].clone()).unwrap();
    let rd = evidence.runtime_data.clone().expect("runtime data");
    let at = time::OffsetDateTime::parse(
        doc["receipt"]["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp() as u64;
    let ok = veil_verify::verify_attestation_answer(&evidence, &rd.nonce, &rd.purpose, &trust(), at);
    assert!(ok.is_ok(), "{ok:?}");
    for (nonce, purpose) in
        [(rd.nonce.as_str(), "worker/attestation"), ("another-nonce-0123456789", rd.purpose.as_str())]
    {
        let r = veil_verify::verify_attestation_answer(&evidence, nonce, purpose, &trust(), at);
        assert_eq!(r.unwrap_err().code(), "receipt.evidence", "{nonce} {purpose}");
    }
    let mut other = trust();
    other.measurements = vec!["00".repeat(48)];
    let r = veil_verify::verify_attestation_answer(&evidence, &rd.nonce, &rd.purpose, &other, at);
    assert_eq!(r.unwrap_err().code(), "receipt.measurement");
}

/// The forged verifying key of issue 14, finding 2: with γ = δ, a "proof" A = α, B = β,
/// C = −vk_x satisfies e(A,B) = e(α,β)·e(vk_x,γ)·e(C,δ) for any public inputs. A zk
/// receipt is signed by whoever made it, so under a key it carries itself it proves
/// nothing; such a receipt, signed by a stranger, with `model` as its model.
mod forged {
    use ark_bn254::{Bn254, G1Affine, G1Projective, G2Affine};
    use ark_ec::{AffineRepr, CurveGroup};
    use serde_json::{Value, json};
    use veil_content::Root;
    use veil_receipt::events::{RequestReceived, ResponseReturned, ZkProof};
    use veil_receipt::{Event, Mode, Receipt};
    use veil_zk::{Fr, snarkjs};

    pub fn root(v: &Value) -> Root {
        veil_content::root_of(&veil_jcs::to_canonical_vec(v).unwrap()).unwrap()
    }

    /// A key that accepts `public`, and its "proof".
    pub fn key_and_proof(public: &[Fr]) -> (Value, Value) {
        let g1 = G1Affine::generator();
        let g2 = G2Affine::generator();
        let alpha = (g1 * Fr::from(2u64)).into_affine();
        let beta = (g2 * Fr::from(3u64)).into_affine();
        let gamma = (g2 * Fr::from(5u64)).into_affine();
        let ic: Vec<G1Affine> =
            (0..=public.len() as u64).map(|i| (g1 * Fr::from(7 + i)).into_affine()).collect();
        let vk = ark_groth16::VerifyingKey::<Bn254> {
            alpha_g1: alpha,
            beta_g2: beta,
            gamma_g2: gamma,
            delta_g2: gamma,
            gamma_abc_g1: ic.clone(),
        };
        let mut vk_x: G1Projective = ic[0].into();
        for (x, p) in public.iter().zip(&ic[1..]) {
            vk_x += *p * x;
        }
        let proof = ark_groth16::Proof::<Bn254> { a: alpha, b: beta, c: (-vk_x).into_affine() };
        assert!(
            veil_zk::groth::verify(&vk, public, &proof).unwrap(),
            "the forged key accepts inputs nobody proved"
        );
        (snarkjs::vk_to_json(&vk), snarkjs::proof_to_json(&proof))
    }

    /// A zk receipt for `circuit` over `public` (with `result` for a proof of
    /// inference), signed by a stranger's key.
    pub fn receipt(
        circuit: &str,
        public: &[Fr],
        result: Option<Value>,
        model: Option<Root>,
    ) -> (Vec<u8>, Root) {
        let (vk, proof) = key_and_proof(public);
        let public = snarkjs::public_to_json(public);
        let mut output = json!({ "proof": proof, "public": public });
        let mut zk = json!({ "circuit": circuit, "vk": vk, "proof": proof, "public": public });
        if let Some(r) = result {
            output["result"] = r.clone();
            zk["result"] = r;
        }
        let at = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut r = Receipt::new(Mode::Zk, root(&public), root(&output), at);
        r.model_hash = model;
        r.events = vec![
            Event::of(at, &RequestReceived::default()),
            Event::of(
                at,
                &ZkProof {
                    circuit: circuit.into(),
                    vk_hash: root(&vk),
                    public: public.clone(),
                    detail: Default::default(),
                },
            ),
            Event::of(at, &ResponseReturned { body_hash: root(&output) }),
        ];
        r.evidence = Some(json!({ "zk": zk }));
        let stranger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let signed = veil_receipt::sign(r, &stranger).unwrap();
        (signed.to_json_pretty().into_bytes(), root(&vk))
    }
}

#[test]
fn a_zk_receipt_under_a_key_its_bearer_chose_is_refused() {
    // "I earn at least 10^9": public inputs nobody proved.
    let public = [Fr::from(1u64), Fr::from(1_000_000_000u64), Fr::from(16u64)];
    let (bytes, vk_hash) = forged::receipt(veil_zk::income::CIRCUIT_ID, &public, None, None);
    let e = verify(&bytes, &Trust::default()).unwrap_err();
    assert_eq!(e.code(), "receipt.zk_key_untrusted", "{e}");
    // Pinning some other key changes nothing.
    let mut trust = Trust::default();
    trust.zk.keys.push(forged::root(&serde_json::json!({ "another": "key" })));
    assert_eq!(verify(&bytes, &trust).unwrap_err().code(), "receipt.zk_key_untrusted");
    // Only a verifier who pins this very key takes the proof (and so trusts its maker).
    trust.zk.keys.push(vk_hash);
    verify(&bytes, &trust).expect("under a pinned key the receipt verifies");
}

#[test]
fn a_proof_of_inference_names_its_model_only_through_a_pinned_commitment() {
    let outputs = [5i64, -3, 9];
    let model_commitment = Fr::from(4242u64);
    let public = [model_commitment, Fr::from(77u64), veil_zk::mlp::output_hash(&outputs).unwrap()];
    let result = serde_json::json!({ "outputs": outputs, "class": veil_zk::mlp::class_of(&outputs) });
    let model = forged::root(&serde_json::json!({ "weights": "the model the bearer claims" }));
    let (bytes, vk_hash) =
        forged::receipt(veil_zk::mlp::CIRCUIT_ID, &public, Some(result.clone()), Some(model));
    let mut trust = Trust::default();
    trust.zk.keys.push(vk_hash);
    let e = verify(&bytes, &trust).unwrap_err();
    assert_eq!(e.code(), "receipt.model_unbound", "{e}");
    // The right model root with another model's commitment is no binding either.
    trust.zk.models.push(veil_verify::ModelPin { model_root: model, commitment: "4243".into() });
    assert_eq!(verify(&bytes, &trust).unwrap_err().code(), "receipt.model_unbound");
    trust
        .zk
        .models
        .push(veil_verify::ModelPin { model_root: model, commitment: model_commitment.to_string() });
    verify(&bytes, &trust).expect("the pinned model and commitment verify");
    // A receipt that names no model cannot stand for one.
    let (bytes, vk_hash) = forged::receipt(veil_zk::mlp::CIRCUIT_ID, &public, Some(result), None);
    trust.zk.keys.push(vk_hash);
    assert_eq!(verify(&bytes, &trust).unwrap_err().code(), "receipt.model_unbound");
}

#[test]
fn trust_is_explicit_no_measurement_and_no_evidence_are_refusals() {
    // No measurement named: the golden receipt's valid evidence is not enough.
    let mut none = trust();
    none.measurements.clear();
    let e = verify(RECEIPT, &none).unwrap_err();
    assert_eq!(e.code(), "receipt.measurement", "{e}");
    // Unless the verifier says any will do.
    none.any_measurement = true;
    verify(RECEIPT, &none).expect("any measurement, explicitly");

    // A plain receipt is its signer's word only.
    let at = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let h = forged::root(&serde_json::json!({}));
    let mut r = veil_receipt::Receipt::new(veil_receipt::Mode::Plain, h, h, at);
    r.events = vec![veil_receipt::Event::of(at, &RequestReceived::default())];
    let plain = veil_receipt::sign(r, &ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]))
        .unwrap()
        .to_json_pretty()
        .into_bytes();
    let e = verify(&plain, &Trust::default()).unwrap_err();
    assert_eq!(e.code(), "receipt.unattested", "{e}");
    let accepting = Trust { accept_unattested: true, ..Trust::default() };
    verify(&plain, &accepting).expect("accepted unattested, explicitly");
}

/// Issue 14, finding 12: a leaked enclave key could sign receipts dated whenever its
/// evidence verified — before the enclave ever ran, say. Evidence now states when it was
/// made, and a receipt must fall after it, within `MAX_EVIDENCE_AGE_SECS`.
mod dated {
    use serde_json::json;
    use veil_receipt::events::{InferenceCompleted, ModelLoaded, RequestReceived, ResponseReturned};
    use veil_receipt::{Event, Mode, Receipt};

    pub const MADE: u64 = 1_800_000_000;

    fn clock() -> u64 {
        MADE
    }

    /// A receipt dated `created_at`, signed by a simulated enclave whose evidence was
    /// made at `MADE`; with the dev root and measurement to trust.
    pub fn receipt(created_at: u64) -> (Vec<u8>, Vec<u8>, String) {
        let pki = std::sync::Arc::new(veil_sim_tee::DevPki::from_seed(&[8; 32]).unwrap());
        let m = veil_sim_tee::SimMeasurement::from_digests([1; 48], [2; 48], &[3; 32]);
        let measurement = m.measurement_id();
        let sim = veil_sim_tee::SimTdx::new(pki.clone(), m).with_clock(clock);
        let enclave = veil_seal::Identity::generate().unwrap();
        let evidence = veil_attester::evidence_with_purpose(
            &sim,
            &enclave,
            "dated-receipt-nonce-0001",
            "kms/key-release",
            Some(MADE),
        )
        .unwrap();
        let at = time::OffsetDateTime::from_unix_timestamp(created_at as i64).unwrap();
        let model = veil_content::Root([6; 32]);
        let output = veil_content::Root([5; 32]);
        let mut r = Receipt::new(Mode::Tee, veil_content::Root([4; 32]), output, at);
        r.model_hash = Some(model);
        r.dev_root = true;
        r.events = vec![
            Event::of(at, &RequestReceived::default()),
            Event::of(at, &ModelLoaded { weights_hash: model, name: "m".into() }),
            Event::of(at, &InferenceCompleted { rows: 1 }),
            Event::of(at, &ResponseReturned { body_hash: output }),
        ];
        r.evidence = Some(json!({ "attestation": evidence, "measurement": measurement }));
        let signed = veil_receipt::sign(r, &enclave.signing_key()).unwrap();
        (signed.to_json_pretty().into_bytes(), pki.root_der().to_vec(), measurement)
    }
}

#[test]
fn a_receipt_dated_outside_its_evidence_window_is_refused() {
    let trust_for = |root: Vec<u8>, measurement: String| {
        let mut anchors = TrustAnchors::vendor();
        anchors.intel_roots.push(root);
        Trust { anchors, measurements: vec![measurement], ..Trust::default() }
    };
    let (ok, root, m) = dated::receipt(dated::MADE + 60);
    verify(&ok, &trust_for(root, m)).expect("a minute after its evidence");
    let age = veil_evidence::MAX_EVIDENCE_AGE_SECS;
    for (created_at, why) in [
        (dated::MADE - 3600, "backdated before the enclave attested"),
        (dated::MADE + age + 1, "dated after its evidence's window"),
    ] {
        let (bytes, root, m) = dated::receipt(created_at);
        let e = verify(&bytes, &trust_for(root, m)).unwrap_err();
        assert_eq!(e.code(), "receipt.evidence", "{why}: {e}");
        assert!(e.to_string().contains("its evidence was made at"), "{why}: {e}");
    }
}
