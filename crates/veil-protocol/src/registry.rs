//! What a prover's enclave signs to complete a job on the `JobRegistry` contract, and
//! the proof server's answers for registering and completing.
//!
//! The completion names the completing account and the proof's hash, so a completion
//! copied from the mempool pays nobody but its author; the EIP-712 domain names the
//! chain and the registry, so it is good on no other.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::sol_types::{Eip712Domain, SolStruct, SolValue};
use serde::{Deserialize, Serialize};

alloy::sol! {
    /// `JobRegistry`'s EIP-712 `Completion`.
    #[derive(Debug)]
    struct Completion {
        uint256 jobId;
        address prover;
        bytes32 resultHash;
        bytes32 receiptId;
        bytes32 proofHash;
    }
}

/// The job registry's EIP-712 domain name.
pub const JOB_REGISTRY_EIP712_NAME: &str = "VeilJobRegistry";

/// keccak256 of a Groth16 proof's ABI-encoded words, as a zk completion signs it (zero
/// for jobs completed by an enclave's word alone).
pub fn proof_hash(words: &[U256; 8]) -> B256 {
    keccak256(words.abi_encode())
}

/// Which job on which chain an enclave is asked to sign a completion for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionTarget {
    /// The chain's EIP-155 id.
    pub chain_id: u64,
    /// The `JobRegistry` contract.
    pub job_registry: Address,
    /// The job's id.
    pub job_id: U256,
    /// The registered prover account that will send the completion.
    pub account: Address,
    /// The receipt the completion cites.
    pub receipt_id: B256,
}

impl CompletionTarget {
    /// The digest the enclave signs for `result` and `proof_hash`.
    pub fn digest(&self, result: B256, proof_hash: B256) -> B256 {
        let domain = Eip712Domain::new(
            Some(JOB_REGISTRY_EIP712_NAME.into()),
            Some("1".into()),
            Some(U256::from(self.chain_id)),
            Some(self.job_registry),
            None,
        );
        Completion {
            jobId: self.job_id,
            prover: self.account,
            resultHash: result,
            receiptId: self.receipt_id,
            proofHash: proof_hash,
        }
        .eip712_signing_hash(&domain)
    }
}

/// A proof server's signed completion for one of its own proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCompletion {
    /// What was signed for.
    pub target: CompletionTarget,
    /// The result the proof commits to (its last public input).
    pub result: U256,
    /// The proof's eight words, in the order the Solidity verifier takes them.
    pub proof: [U256; 8],
    /// [`proof_hash`] of `proof`.
    pub proof_hash: B256,
    /// The enclave's completion key (secp256k1 address).
    pub enclave_key: Address,
    /// Its 65-byte signature over [`CompletionTarget::digest`].
    pub signature: alloy::primitives::Bytes,
}

alloy::sol! {
    /// What an attestation verifier signs to admit an enclave key (EIP-712, the
    /// prover registry's `Attestation`).
    #[derive(Debug)]
    struct Attestation {
        address prover;
        address enclaveKey;
        bytes32 measurement;
        bytes32 evidenceHash;
        uint64 expiresAt;
    }
}

/// The prover registry's EIP-712 domain name.
pub const PROVER_REGISTRY_EIP712_NAME: &str = "VeilProverRegistry";

/// The prover registry's EIP-712 domain on chain `chain_id` at `registry`.
pub fn prover_registry_domain(chain_id: u64, registry: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(PROVER_REGISTRY_EIP712_NAME.into()),
        Some("1".into()),
        Some(U256::from(chain_id)),
        Some(registry),
        None,
    )
}

/// An attestation verifier's statement that `enclave_key`, running as `measurement`,
/// belongs to `prover` until `expires_at` (EIP-712 over the prover registry's domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAttestation {
    /// The registering account.
    pub prover: Address,
    /// The key its enclave signs completions with.
    pub enclave_key: Address,
    /// The enclave's measurement (`keccak256` of its measurement id).
    pub measurement: B256,
    /// `keccak256` of the evidence the verifier checked (published beside the statement).
    pub evidence_hash: B256,
    /// Unix seconds; the registry refuses statements valid for more than 30 days.
    pub expires_at: u64,
    /// The verifier's 65-byte signature.
    pub signature: alloy::primitives::Bytes,
}

impl SignedAttestation {
    fn typed(&self) -> Attestation {
        Attestation {
            prover: self.prover,
            enclaveKey: self.enclave_key,
            measurement: self.measurement,
            evidenceHash: self.evidence_hash,
            expiresAt: self.expires_at,
        }
    }

    /// The digest a verifier signs for this statement under `domain`.
    pub fn digest(&self, domain: &Eip712Domain) -> B256 {
        self.typed().eip712_signing_hash(domain)
    }

    /// Sign as the attestation verifier `verifier` under `domain` (the registry's).
    pub fn sign(
        mut self,
        verifier: &alloy::signers::local::PrivateKeySigner,
        domain: &Eip712Domain,
    ) -> Result<Self, alloy::signers::Error> {
        use alloy::signers::SignerSync as _;
        let sig = verifier.sign_hash_sync(&self.digest(domain))?;
        self.signature = sig.as_bytes().to_vec().into();
        Ok(self)
    }
}

/// A prover's registration evidence, for an attestation verifier to vouch for
/// (`POST /v1/statements`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementRequest {
    /// The account registering.
    pub prover: Address,
    /// The prover enclave's evidence, binding its completion key and `prover`.
    pub evidence: veil_evidence::Evidence,
}
