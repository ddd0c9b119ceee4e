//! The attestation verifier (the seeds' "oracle"): it checks a prover enclave's
//! registration evidence and, when it holds, signs the statement the prover registry
//! admits an enclave key with.
//!
//! Registration evidence binds, through its runtime data, the enclave's secp256k1
//! completion key (`public_keys["secp256k1"]`) and the account registering it: the
//! account stands where a verifier's nonce would, so the evidence is worthless to any
//! other account, and its `issued_at` must be recent. The on-chain measurement is
//! `keccak256` of the evidence's measurement id ([`measurement_id`]: one digest over every
//! register that identifies the software), so one bytes32 names TDX, SNP and SGX alike.

use alloy::primitives::{Address, B256, keccak256};
use veil_evidence::{Evidence, MAX_EVIDENCE_AGE_SECS};
use veil_verify::Trust;

use crate::{Result, StackError};

/// How far ahead of the verifier's clock evidence may claim to be made.
const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// What an attestation verifier found in a prover's registration evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    /// The enclave's completion key.
    pub enclave_key: Address,
    /// `keccak256` of the raw platform measurement (what the registry approves).
    pub measurement: B256,
    /// `keccak256` of the evidence's canonical JSON (published beside the statement).
    pub evidence_hash: B256,
}

/// The registry's name for a measurement id (hex, as evidence claims carry it).
pub fn measurement_id(raw_hex: &str) -> Result<B256> {
    let raw = hex::decode(raw_hex.trim_start_matches("0x"))
        .map_err(|_| StackError::Config(format!("measurement {raw_hex:?} is not hex")))?;
    Ok(keccak256(raw))
}

/// Check `evidence` as `prover`'s registration under `trust` at `now`: it verifies,
/// runs an accepted measurement, is for registration by exactly this account, was made
/// within the last hour, and names a secp256k1 completion key.
pub fn vouch(evidence: &Evidence, prover: Address, trust: &Trust, now: u64) -> Result<Vouched> {
    let refused = |why: String| StackError::Config(format!("registration evidence refused: {why}"));
    let account = format!("{prover:#x}");
    let claims = veil_verify::verify_attestation_answer(
        evidence,
        &account,
        veil_protocol::PROVER_REGISTRATION_PURPOSE,
        trust,
        now,
    )
    .map_err(|e| refused(format!("{e} ({})", e.code())))?;
    let rd = evidence.runtime_data.as_ref().ok_or_else(|| refused("no runtime data".into()))?;
    match rd.issued_at {
        Some(t) if t <= now + MAX_CLOCK_SKEW_SECS && now.saturating_sub(t) <= MAX_EVIDENCE_AGE_SECS => {}
        Some(t) => return Err(refused(format!("made at {t}, not within an hour of {now}"))),
        None => return Err(refused("it does not say when it was made".into())),
    }
    let enclave_key = rd
        .public_keys
        .get("secp256k1")
        .and_then(|k| k.parse::<Address>().ok())
        .ok_or_else(|| refused("it binds no secp256k1 completion key".into()))?;
    if claims.measurement_id.is_empty() {
        return Err(refused("it carries no measurement".into()));
    }
    let measured = claims.measurement_id.as_str();
    let canonical =
        veil_jcs::to_canonical_vec(evidence).map_err(|e| refused(format!("cannot canonicalise: {e}")))?;
    Ok(Vouched { enclave_key, measurement: measurement_id(measured)?, evidence_hash: keccak256(canonical) })
}

/// As an attestation verifier signing with `verifier`: read the registration evidence
/// at `evidence`, [`vouch`] for it, and sign the statement admitting its enclave key
/// for `prover`, valid for `ttl` seconds from the chain's head.
pub async fn attest(
    client: &veil_ledger::ChainClient<alloy::providers::DynProvider>,
    verifier: &alloy::signers::local::PrivateKeySigner,
    evidence: &std::path::Path,
    prover: Address,
    ttl: u64,
    trust: &Trust,
    now: u64,
) -> Result<veil_ledger::SignedAttestation> {
    let parsed: Evidence = serde_json::from_slice(&veil_fs::read_limited(evidence, 1 << 20)?)
        .map_err(|e| StackError::Config(format!("{} is not evidence: {e}", evidence.display())))?;
    let v = vouch(&parsed, prover, trust, now)?;
    Ok(client.attest_prover(verifier, prover, v.enclave_key, v.measurement, v.evidence_hash, ttl).await?)
}
