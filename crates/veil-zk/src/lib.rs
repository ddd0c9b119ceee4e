//! Zero-knowledge proofs for Veil: Groth16 over BN254 (arkworks), Poseidon with
//! circomlib's parameters (native and as constraints), the circuits, and proofs and
//! keys in snarkjs's JSON so `snarkjs groth16 verify` and Solidity verifiers check them.
#![forbid(unsafe_code)]

pub mod circom;
mod gadgets;
pub mod groth;
pub mod income;
pub mod mlp;
pub mod poseidon;
pub mod snarkjs;
pub mod solidity;

pub use ark_bn254::Fr;

/// Why a proof could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    /// The statement does not hold for this witness: no proof exists.
    #[error("statement is false: {0}")]
    False(String),
    /// The input is out of range or the wrong shape.
    #[error("bad input: {0}")]
    Input(String),
    /// Poseidon was called outside its parameters.
    #[error("poseidon: {0}")]
    Poseidon(String),
    /// Key generation, proving or verification failed.
    #[error("groth16: {0}")]
    Groth16(String),
    /// No such circuit here.
    #[error("this prover does not serve circuit {0}")]
    Unsupported(String),
    /// The prover's queue is full.
    #[error("the prover's queue is full; try again shortly")]
    Busy,
    /// A key, proof or JSON document does not parse.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

impl ZkError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::False(_) => "zk.statement_false",
            Self::Input(_) => "zk.bad_input",
            Self::Poseidon(_) => "zk.poseidon",
            Self::Groth16(_) => "zk.groth16",
            Self::Malformed { .. } => "zk.malformed",
            Self::Busy => "zk.busy",
            Self::Unsupported(_) => "zk.unknown_circuit",
        }
    }
}

/// A canonical decimal field element (digits only, below the modulus), else `None`.
pub(crate) fn decimal<F: ark_ff::PrimeField>(s: &str) -> Option<F> {
    if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let f: F = s.parse().ok()?;
    // from_str reduces silently; a number at or above the modulus comes back different.
    let digits = s.trim_start_matches('0');
    (f.to_string() == digits || (digits.is_empty() && f.is_zero())).then_some(f)
}
