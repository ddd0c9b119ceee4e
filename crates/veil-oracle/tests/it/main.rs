//! The attestation verifier over HTTP, driven as the registry's owner and a prover
//! would: its own evidence binds its signing key, and it signs a statement only for a
//! prover's fresh registration evidence made for that very account.

use std::sync::Arc;

use alloy::primitives::{Address, keccak256};
use veil_attester::Attester;
use veil_evidence::{Evidence, RuntimeData, TrustAnchors};
use veil_oracle::{Oracle, router};
use veil_protocol::{SignedAttestation, StatementRequest};
use veil_sim_tee::{DevPki, SimMeasurement, SimTdx};

/// 2026-03-01T00:00:00Z.
const NOW: u64 = 1_772_323_200;

fn now() -> u64 {
    NOW
}

const REGISTRY: Address = Address::repeat_byte(0x42);
const CHAIN_ID: u64 = 0x7e11;

fn tdx(pki: &Arc<DevPki>, tag: u8) -> SimTdx {
    SimTdx::new(pki.clone(), SimMeasurement::from_digests([tag; 48], [2; 48], &[3; 32])).with_clock(now)
}

/// A prover's registration evidence: for `account`, binding `key`, made at `at`.
fn registration(attester: &dyn Attester, account: Address, key: Address, at: u64) -> Evidence {
    let rd = RuntimeData {
        nonce: format!("{account:#x}"),
        public_keys: [("secp256k1".to_owned(), format!("{key:#x}"))].into(),
        purpose: veil_protocol::PROVER_REGISTRATION_PURPOSE.into(),
        issued_at: Some(at),
    };
    veil_attester::evidence_for(attester, rd).unwrap()
}

async fn serve(pki: &Arc<DevPki>) -> (String, Address) {
    let mut anchors = TrustAnchors::vendor();
    anchors.intel_roots.push(pki.root_der().to_vec());
    let trust = veil_verify::Trust { anchors, any_measurement: true, ..veil_verify::Trust::default() };
    let oracle = Oracle::new(Arc::new(tdx(pki, 9)), CHAIN_ID, REGISTRY, trust, 3600, now).unwrap();
    let address = oracle.address();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(Arc::new(oracle))).await });
    (url, address)
}

async fn post(url: &str, body: &impl serde::Serialize) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new().post(format!("{url}/v1/statements")).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn the_verifier_attests_its_own_key_and_vouches_only_for_fresh_evidence_for_the_account() {
    let pki = Arc::new(DevPki::from_seed(&[5; 32]).unwrap());
    let (url, address) = serve(&pki).await;

    // Its own evidence binds the key it signs with, for whoever admits it.
    let evidence: Evidence =
        reqwest::get(format!("{url}/v1/attestation?nonce=admit-0001")).await.unwrap().json().await.unwrap();
    let rd = evidence.runtime_data.clone().unwrap();
    assert_eq!(rd.purpose, veil_protocol::ORACLE_ATTESTATION_PURPOSE);
    assert_eq!(rd.nonce, "admit-0001");
    assert_eq!(rd.public_keys["secp256k1"], format!("{address:#x}"));
    let mut anchors = TrustAnchors::vendor();
    anchors.intel_roots.push(pki.root_der().to_vec());
    let claims = veil_evidence::verify(&evidence, &anchors, &veil_evidence::Policy::default(), NOW).unwrap();
    assert_eq!(
        claims.measurement_id,
        SimMeasurement::from_digests([9; 48], [2; 48], &[3; 32]).measurement_id()
    );

    // A prover's fresh evidence for its own account earns a statement signed by that key.
    let prover = Address::repeat_byte(0xaa);
    let enclave = Address::repeat_byte(0xee);
    let prover_tdx = tdx(&pki, 1);
    let ev = registration(&prover_tdx, prover, enclave, NOW - 10);
    let (status, body) = post(&url, &StatementRequest { prover, evidence: ev.clone() }).await;
    assert_eq!(status, 200, "{body}");
    let st: SignedAttestation = serde_json::from_value(body).unwrap();
    assert_eq!((st.prover, st.enclave_key, st.expires_at), (prover, enclave, NOW + 3600));
    let id = SimMeasurement::from_digests([1; 48], [2; 48], &[3; 32]).measurement_id();
    assert_eq!(st.measurement, keccak256(hex::decode(id).unwrap()));
    assert_eq!(st.evidence_hash, keccak256(veil_jcs::to_canonical_vec(&ev).unwrap()));
    let domain = veil_protocol::prover_registry_domain(CHAIN_ID, REGISTRY);
    let sig = alloy::primitives::Signature::try_from(st.signature.as_ref()).unwrap();
    assert_eq!(sig.recover_address_from_prehash(&st.digest(&domain)).unwrap(), address);

    // Evidence made for one account vouches for no other; stale evidence, evidence under
    // another PKI, and a body that is not a request are refused with stable codes.
    let thief = Address::repeat_byte(0xbb);
    let (status, body) = post(&url, &StatementRequest { prover: thief, evidence: ev.clone() }).await;
    assert_eq!((status, body["code"].as_str().unwrap()), (422, "attestation.binding"), "{body}");
    let stale = registration(&prover_tdx, prover, enclave, NOW - 2 * 3600);
    let (status, body) = post(&url, &StatementRequest { prover, evidence: stale }).await;
    assert_eq!((status, body["code"].as_str().unwrap()), (422, "attestation.policy"), "{body}");
    let stranger = Arc::new(DevPki::from_seed(&[6; 32]).unwrap());
    let foreign = registration(&tdx(&stranger, 1), prover, enclave, NOW);
    let (status, body) = post(&url, &StatementRequest { prover, evidence: foreign }).await;
    assert_eq!((status, body["code"].as_str().unwrap()), (422, "attestation.chain"), "{body}");
    let (status, body) = post(&url, &serde_json::json!({ "prover": "0xnope" })).await;
    assert_eq!((status, body["code"].as_str().unwrap()), (400, "request.malformed"), "{body}");
    let r = reqwest::get(format!("{url}/v1/attestation?nonce=")).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
