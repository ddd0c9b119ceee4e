//! Evidence that binds an enclave's keys, a verifier's nonce and a purpose.
//!
//! Every service that attests (a worker to the key broker or to a user, the proof
//! server to a user) binds the same runtime data: its HPKE and Ed25519 public keys,
//! the challenger's nonce, and what the evidence is for. The purpose keeps evidence
//! given for one use from being replayed for another (an answer to a user's
//! challenge is no key-release request).

use std::collections::BTreeMap;

use veil_evidence::{Evidence, RuntimeData, expected_report_data};
use veil_seal::Identity;

use crate::{Attester, AttesterError};

/// The runtime data an enclave with `identity` binds for `nonce` and `purpose`, made
/// at `issued_at` (Unix seconds) when the caller has a clock to say so.
pub fn runtime_data(identity: &Identity, nonce: &str, purpose: &str, issued_at: Option<u64>) -> RuntimeData {
    let mut keys = BTreeMap::new();
    keys.insert("hpke".to_owned(), identity.public_key().to_string());
    keys.insert("ed25519".to_owned(), hex::encode(identity.signing_key().verifying_key().to_bytes()));
    RuntimeData { nonce: nonce.to_owned(), public_keys: keys, purpose: purpose.to_owned(), issued_at }
}

/// Evidence from `attester` binding `identity`'s keys, `nonce`, `purpose` and the time
/// it was made.
pub fn evidence_with_purpose(
    attester: &dyn Attester,
    identity: &Identity,
    nonce: &str,
    purpose: &str,
    issued_at: Option<u64>,
) -> Result<Evidence, AttesterError> {
    evidence_for(attester, runtime_data(identity, nonce, purpose, issued_at))
}

/// Evidence from `attester` binding `rd` as given (callers that bind keys beyond an
/// identity's, such as a prover's secp256k1 completion key).
pub fn evidence_for(attester: &dyn Attester, rd: RuntimeData) -> Result<Evidence, AttesterError> {
    let report_data = expected_report_data(&rd)?;
    let raw = attester.attest(&report_data)?;
    Ok(Evidence {
        tee: raw.tee,
        quote: hex::encode(&raw.quote),
        collateral: raw.collateral.unwrap_or(serde_json::Value::Null),
        runtime_data: Some(rd),
        event_log: raw.event_log,
    })
}
