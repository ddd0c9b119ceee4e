//! The receipt: one signed, content-addressed record of a job, for every mode.
//!
//! A receipt file is `{"receipt": BODY, "id": "sha256:…", "signature": {…}}`. The id
//! is the SHA-256 of BODY's RFC 8785 canonical bytes; the signature is Ed25519 over
//! `"veil/receipt/v1\0" || id` by the key named in `BODY.signer`, so the id commits to
//! who signed. [`verify`] checks all of it from the file's bytes alone, offline.
//!
//! Verification grows with later work (evidence, proofs, log inclusion): unknown event
//! types are ignored, unknown body fields are covered by the id but not interpreted.
#![forbid(unsafe_code)]

mod body;
pub mod events;
mod verify;

pub use body::{Event, Mode, Receipt, Signer, event};
pub use verify::{ReceiptId, SIGNATURE_DOMAIN, SignedReceipt, Verified, sign, verify};

/// Why a receipt was refused. [`ReceiptError::code`] is stable for machines.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// Not JSON, or JSON with duplicate keys or unsafe numbers.
    #[error("receipt is not valid JSON: {0}")]
    Json(String),
    /// JSON of the wrong shape.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// A body version this build does not know.
    #[error("unsupported receipt version {0:?}")]
    UnsupportedVersion(String),
    /// The stated id is not the hash of the body.
    #[error("receipt id mismatch: stated {stated}, body hashes to {computed}")]
    IdMismatch {
        /// The id in the file.
        stated: String,
        /// The id of the body as found.
        computed: String,
    },
    /// The signature does not verify under the signer key.
    #[error("signature does not verify under signer key {0}")]
    BadSignature(String),
    /// An event that breaks the log's rules.
    #[error("event {index}: {reason}")]
    BadEvent {
        /// Position in the log.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

impl ReceiptError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Json(_) => "receipt.json",
            Self::Malformed(_) => "receipt.malformed",
            Self::UnsupportedVersion(_) => "receipt.version",
            Self::IdMismatch { .. } => "receipt.id_mismatch",
            Self::BadSignature(_) => "receipt.signature",
            Self::BadEvent { .. } => "receipt.event",
        }
    }
}
