//! The attestation verifier (the seeds' "oracle") as a service in its own enclave.
//!
//! The prover registry admits a prover's enclave key only with an attestation
//! verifier's EIP-712 statement, and admits a verifier's key only while the verifier
//! runs as the measurement the registry pins. So the verifier must itself be attested:
//! its statement-signing key is made inside its enclave at start and never leaves it,
//! `GET /v1/attestation?nonce=N` answers with evidence binding that key (purpose
//! `oracle/attestation`), and the registry's owner admits the key only after checking
//! that evidence (`veil prover add-verifier --oracle URL`).
//!
//! `POST /v1/statements` takes a prover's registration evidence and the account
//! registering. The evidence must verify under the verifier's trust, be made for
//! registration by exactly that account (the account stands where a nonce would, so
//! the evidence serves no one else), be at most an hour old, and bind a secp256k1
//! completion key. The statement names `keccak256` of the evidence's measurement id
//! ([`measurement_key`]) and of its canonical JSON, and expires `ttl` after the
//! verifier's clock.
#![forbid(unsafe_code)]

mod client;
mod server;

use std::sync::Arc;

use alloy::primitives::{Address, B256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::Eip712Domain;
use veil_attester::Attester;
use veil_evidence::{Evidence, MAX_EVIDENCE_AGE_SECS};
use veil_protocol::{ErrorCode, Problem, SignedAttestation};
use veil_verify::Trust;

pub use client::{Admission, OracleClient};
pub use server::router;

/// How far ahead of the verifier's clock evidence may claim to be made.
const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// The registry refuses statements valid for longer.
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

/// Why the verifier refuses: one type for every route, mapped to a status and a stable
/// code in exactly one place ([`OracleError::problem`]).
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// The request is not well formed.
    #[error("{0}")]
    Malformed(String),
    /// The request body was refused before it was read.
    #[error("{0}")]
    Body(Problem),
    /// The prover's evidence does not earn a statement.
    #[error("registration evidence refused: {detail}")]
    Refused {
        /// Why, as a stable code.
        code: ErrorCode,
        /// Why, for people.
        detail: String,
    },
    /// The verifier could not attest or sign.
    #[error("the verifier could not {0}")]
    Internal(&'static str),
}

impl OracleError {
    fn refused(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::Refused { code, detail: detail.into() }
    }

    /// The problem document (and status) for this refusal.
    pub fn problem(&self) -> Problem {
        use axum::http::StatusCode;
        let (status, code) = match self {
            Self::Malformed(_) => (StatusCode::BAD_REQUEST, ErrorCode::RequestMalformed),
            Self::Body(p) => return p.clone(),
            Self::Refused { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code.clone()),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::OracleInternal),
        };
        Problem::new(status, code, self.to_string())
    }
}

/// The registry's name for a measurement id (hex, as evidence claims carry it):
/// `keccak256` of its bytes, so one bytes32 names TDX, SNP and SGX software alike.
pub fn measurement_key(measurement_id: &str) -> Result<B256, String> {
    let raw = hex::decode(measurement_id.trim_start_matches("0x"))
        .map_err(|_| format!("measurement {measurement_id:?} is not hex"))?;
    if raw.is_empty() {
        return Err("the measurement is empty".into());
    }
    Ok(keccak256(raw))
}

/// What the verifier found in a prover's registration evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    /// The enclave's completion key.
    pub enclave_key: Address,
    /// [`measurement_key`] of the evidence's measurement id.
    pub measurement: B256,
    /// `keccak256` of the evidence's canonical JSON (published beside the statement).
    pub evidence_hash: B256,
}

/// Check `evidence` as `prover`'s registration under `trust` at `now`: it verifies,
/// runs an accepted measurement, is for registration by exactly this account, was made
/// within the last hour, and names a secp256k1 completion key.
pub fn vouch(evidence: &Evidence, prover: Address, trust: &Trust, now: u64) -> Result<Vouched, OracleError> {
    let account = format!("{prover:#x}");
    let claims = veil_verify::verify_attestation_answer(
        evidence,
        &account,
        veil_protocol::PROVER_REGISTRATION_PURPOSE,
        trust,
        now,
    )
    .map_err(|e| {
        let code = match &e {
            veil_verify::VerifyError::Attestation(a) => ErrorCode::from(a),
            veil_verify::VerifyError::Measurement(_) => ErrorCode::AttestationMeasurement,
            _ => ErrorCode::AttestationBinding,
        };
        OracleError::refused(code, format!("{e} ({})", e.code()))
    })?;
    let policy = |why: String| OracleError::refused(ErrorCode::AttestationPolicy, why);
    let rd = evidence.runtime_data.as_ref().ok_or_else(|| policy("no runtime data".into()))?;
    match rd.issued_at {
        Some(t) if t <= now + MAX_CLOCK_SKEW_SECS && now.saturating_sub(t) <= MAX_EVIDENCE_AGE_SECS => {}
        Some(t) => return Err(policy(format!("made at {t}, not within an hour of {now}"))),
        None => return Err(policy("it does not say when it was made".into())),
    }
    let enclave_key = rd
        .public_keys
        .get("secp256k1")
        .and_then(|k| k.parse::<Address>().ok())
        .ok_or_else(|| policy("it binds no secp256k1 completion key".into()))?;
    let measurement = measurement_key(&claims.measurement_id).map_err(policy)?;
    let canonical =
        veil_jcs::to_canonical_vec(evidence).map_err(|e| policy(format!("cannot canonicalise: {e}")))?;
    Ok(Vouched { enclave_key, measurement, evidence_hash: keccak256(canonical) })
}

/// The verifier's running state.
pub struct Oracle {
    signer: PrivateKeySigner,
    attester: Arc<dyn Attester>,
    /// Keys the evidence binds beside the secp256k1 one (the binding's identity).
    identity: veil_seal::Identity,
    domain: Eip712Domain,
    trust: Trust,
    ttl: u64,
    clock: fn() -> u64,
}

impl Oracle {
    /// A verifier attesting through `attester`, signing statements for the prover
    /// registry at `registry` on chain `chain_id`, checking evidence under `trust`,
    /// with statements valid for `ttl` seconds (at most [`MAX_TTL_SECS`]). Its signing
    /// key is made here and never leaves the process.
    pub fn new(
        attester: Arc<dyn Attester>,
        chain_id: u64,
        registry: Address,
        trust: Trust,
        ttl: u64,
        clock: fn() -> u64,
    ) -> Result<Self, OracleError> {
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(OracleError::Malformed(format!("a statement lasts 1 to {MAX_TTL_SECS} seconds")));
        }
        Ok(Self {
            signer: PrivateKeySigner::random(),
            attester,
            identity: veil_seal::Identity::generate()
                .map_err(|_| OracleError::Internal("make its identity"))?,
            domain: veil_protocol::prover_registry_domain(chain_id, registry),
            trust,
            ttl,
            clock,
        })
    }

    /// The address statements are signed with (what the registry admits).
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Evidence binding the signing key to `nonce`, for whoever admits this verifier.
    pub fn attestation(&self, nonce: &str) -> Result<Evidence, OracleError> {
        if nonce.is_empty() || nonce.len() > 128 {
            return Err(OracleError::Malformed("the nonce is 1 to 128 characters".into()));
        }
        let mut rd = veil_attester::runtime_data(
            &self.identity,
            nonce,
            veil_protocol::ORACLE_ATTESTATION_PURPOSE,
            Some((self.clock)()),
        );
        rd.public_keys.insert("secp256k1".into(), format!("{:#x}", self.address()));
        veil_attester::evidence_for(&*self.attester, rd).map_err(|_| OracleError::Internal("attest"))
    }

    /// A signed statement admitting the enclave key `evidence` binds, for `prover`.
    pub fn statement(&self, prover: Address, evidence: &Evidence) -> Result<SignedAttestation, OracleError> {
        let now = (self.clock)();
        let v = vouch(evidence, prover, &self.trust, now)?;
        SignedAttestation {
            prover,
            enclave_key: v.enclave_key,
            measurement: v.measurement,
            evidence_hash: v.evidence_hash,
            expires_at: now + self.ttl,
            signature: Default::default(),
        }
        .sign(&self.signer, &self.domain)
        .map_err(|_| OracleError::Internal("sign"))
    }
}
