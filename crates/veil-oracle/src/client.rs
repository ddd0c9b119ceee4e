//! The verifier seen from outside: the registry's owner admitting it, a prover asking
//! it for a statement.

use alloy::primitives::{Address, B256, keccak256};
use veil_evidence::Evidence;
use veil_protocol::{SignedAttestation, StatementRequest};
use veil_verify::Trust;

use crate::{OracleError, measurement_key};

/// A client of the verifier at `base` (`http://host:port`).
pub struct OracleClient {
    base: String,
    http: reqwest::Client,
}

/// What the registry's owner needs to admit a verifier, from its checked evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The key it signs statements with.
    pub verifier: Address,
    /// [`measurement_key`] of its measurement id (the registry must pin it).
    pub measurement: B256,
    /// `keccak256` of its evidence's canonical JSON, for anyone to check later.
    pub evidence_hash: B256,
    /// The evidence itself, to publish.
    pub evidence: Evidence,
}

fn call_error(e: veil_http::CallError) -> OracleError {
    match e {
        veil_http::CallError::Refused(p) => OracleError::Body(p),
        veil_http::CallError::Transport(why) => OracleError::Malformed(format!("the verifier: {why}")),
    }
}

impl OracleClient {
    /// A client of the verifier at `base`.
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into().trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }

    /// Challenge the verifier with a fresh nonce and check its evidence under `trust`
    /// at `now`: it verifies, answers this nonce for `oracle/attestation`, runs a
    /// measurement `trust` accepts, and binds a secp256k1 signing key.
    pub async fn admission(&self, trust: &Trust, now: u64) -> Result<Admission, OracleError> {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|_| OracleError::Internal("draw a nonce"))?;
        let nonce = hex::encode(raw);
        let url = format!("{}/v1/attestation?nonce={nonce}", self.base);
        let evidence: Evidence =
            veil_http::answer(self.http.get(&url).send().await).await.map_err(call_error)?;
        let refused = |code, detail: String| OracleError::Refused { code, detail };
        let claims = veil_verify::verify_attestation_answer(
            &evidence,
            &nonce,
            veil_protocol::ORACLE_ATTESTATION_PURPOSE,
            trust,
            now,
        )
        .map_err(|e| refused(veil_protocol::ErrorCode::AttestationPolicy, format!("{e} ({})", e.code())))?;
        let verifier = evidence
            .runtime_data
            .as_ref()
            .and_then(|rd| rd.public_keys.get("secp256k1"))
            .and_then(|k| k.parse::<Address>().ok())
            .ok_or_else(|| {
                refused(veil_protocol::ErrorCode::AttestationPolicy, "it binds no signing key".into())
            })?;
        let measurement = measurement_key(&claims.measurement_id)
            .map_err(|e| refused(veil_protocol::ErrorCode::AttestationPolicy, e))?;
        let canonical =
            veil_jcs::to_canonical_vec(&evidence).map_err(|_| OracleError::Internal("canonicalise"))?;
        Ok(Admission { verifier, measurement, evidence_hash: keccak256(canonical), evidence })
    }

    /// Ask for a statement admitting the enclave key `evidence` binds, for `prover`.
    pub async fn statement(
        &self,
        prover: Address,
        evidence: Evidence,
    ) -> Result<SignedAttestation, OracleError> {
        let url = format!("{}/v1/statements", self.base);
        let body = StatementRequest { prover, evidence };
        veil_http::answer(self.http.post(&url).json(&body).send().await).await.map_err(call_error)
    }
}
