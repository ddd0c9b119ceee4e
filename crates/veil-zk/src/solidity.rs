//! Solidity verifiers for our keys, from gnark's Groth16 template (via
//! `taceo-groth16-sol`): `verifyProof(uint256[8] proof, uint256[N] input)` reverts with
//! `ProofInvalid()` unless the proof holds, so a caller's `require` is the revert itself.

use ark_bn254::Bn254;
use ark_groth16::{Proof, VerifyingKey};
use taceo_groth16_sol::askama::Template;
use taceo_groth16_sol::{SolidityVerifierConfig, SolidityVerifierContext};

use crate::ZkError;

/// The verifier contract's source for `vk`, pinned to the compiler Veil's contracts use.
pub fn verifier_source(vk: &VerifyingKey<Bn254>) -> Result<String, ZkError> {
    let ctx = SolidityVerifierContext {
        vk: vk.clone(),
        config: SolidityVerifierConfig { pragma_version: "0.8.37".into() },
    };
    ctx.render().map(|s| s + "\n").map_err(|e| ZkError::Groth16(format!("rendering the verifier: {e}")))
}

/// The proof as the contract's `uint256[8]` argument (big-endian 32-byte words).
pub fn proof_words(proof: &Proof<Bn254>) -> [[u8; 32]; 8] {
    taceo_groth16_sol::prepare_uncompressed_proof(proof).map(|w| w.to_be_bytes::<32>())
}
