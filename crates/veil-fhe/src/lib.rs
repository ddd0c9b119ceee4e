//! Inference on inputs only the client can decrypt.
//!
//! The client holds a BFV secret key ([`ClientKey`]); it encrypts int8 feature rows
//! under its public key ([`EncryptionKey::encrypt_rows`]) into a [`Query`], the server
//! evaluates a quantized linear model on the ciphertexts ([`FheLinear::evaluate`]) and
//! returns an [`Answer`] that only the client can decrypt
//! ([`ClientKey::decrypt_answer`]). The server never sees a feature, an accumulator or
//! a class, and needs no key at all: the model is applied as plaintext × ciphertext
//! products, so no relinearisation or Galois key leaves the client.
//!
//! Packing (coefficient encoding): a query ciphertext holds `⌊n / f⌋` rows of `f`
//! features, row `j`'s feature `i` in coefficient `j·f + i`. Each model output's
//! weights are a plaintext with weight `i` in coefficient `f − 1 − i`, so in the
//! negacyclic product coefficient `j·f + f − 1` is exactly row `j`'s dot product
//! (no other row's terms reach it, and wrap-around only reaches coefficients below
//! `f − 1`); the bias is added there. Arithmetic is exact modulo the plaintext modulus
//! `t`, and [`FheLinear::new`] refuses a model whose accumulators could reach `t / 2`
//! or whose worst-case noise could exceed what decryption tolerates: a wrong
//! decryption is impossible by construction, not merely unlikely.
//!
//! Everything that crosses a process boundary is in the versioned binary format of
//! [`wire`] (documented in `docs/FHE.md`), bound to the parameter set by its hash.
#![forbid(unsafe_code)]

mod linear;
mod params;
pub mod wire;

pub use linear::{FheLinear, LinearLayer};
pub use params::ParamSet;
pub use wire::{Answer, ClientKey, EncryptionKey, Query, QueryShape};

/// Why an FHE operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum FheError {
    /// The bytes are not a Veil FHE object (or are damaged).
    #[error("not a Veil FHE object: {0}")]
    Format(String),
    /// A format version this build does not read.
    #[error("FHE format version {0} is not supported (this build reads version {ver})", ver = wire::VERSION)]
    Version(u8),
    /// Another kind of object than the one expected (a key where a query belongs…).
    #[error("expected {expected}, found {found}")]
    Kind {
        /// What the caller needs.
        expected: &'static str,
        /// What the bytes hold.
        found: &'static str,
    },
    /// Encrypted under another parameter set than the evaluator's.
    #[error("encrypted under parameter set {found}, but this evaluator uses {expected}")]
    Params {
        /// The evaluator's parameter-set hash (hex).
        expected: String,
        /// The object's (hex).
        found: String,
    },
    /// The ciphertexts do not fit the model (feature count, row count, packing).
    #[error("shape: {0}")]
    Shape(String),
    /// More ciphertexts, rows or bytes than a request may carry.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The parameter set cannot evaluate this model exactly: refused before evaluation.
    #[error("the parameter set cannot evaluate this model exactly: {0}")]
    Budget(String),
    /// Invalid input to encryption (a feature outside int8's symmetric range…).
    #[error("input: {0}")]
    Input(String),
    /// The FHE library refused an operation.
    #[error("fhe: {0}")]
    Fhe(#[from] fhe::Error),
}

/// The result type of this crate.
pub type Result<T, E = FheError> = std::result::Result<T, E>;
