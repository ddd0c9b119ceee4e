//! Sealed blobs: how Veil keeps data private at rest and in transit.
//!
//! A sealed file is a versioned header followed by AES-256-GCM segments:
//!
//! ```text
//! "VEILSEAL" | version=1 | log2(segment size) | 0x0000 | salt[32] | n:u16be
//! n x ( HPKE enc[32] | wrapped data key[48] )
//! header MAC[32] = HMAC-SHA256(HKDF(key, salt, "header"), everything above)
//! segment 0 | segment 1 | ... | last segment        (each: ciphertext | tag[16])
//! ```
//!
//! Each blob gets a fresh 32-byte data key, wrapped to every recipient with HPKE
//! (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) with the
//! header's fixed prefix as associated data, so a wrapped key cannot be moved to another
//! file. Segment `i` is sealed under a key derived from the data key and the salt, with
//! nonce `0^3 | i:u64be | last` and the SHA-256 of the whole header as associated data:
//! truncation, reordering, swapping segments between files and any flipped bit all fail
//! authentication. Memory is one segment, whatever the file size.
#![forbid(unsafe_code)]

mod format;
mod identity;
mod stream;

pub use format::{DEFAULT_SEGMENT_LOG2, Header, MAGIC, MAX_RECIPIENTS, TAG_LEN, VERSION};
pub use identity::{Identity, PublicKey, SigningKey, VerifyingKey};
pub use stream::{OpenSummary, SealSummary, open, seal, seal_with_segment_size};

/// Errors from sealing and opening.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The input does not start with Veil's magic bytes.
    #[error("not a Veil sealed file (bad magic bytes)")]
    NotSealed,
    /// A header version this build does not read.
    #[error("sealed file has version {0}; this build reads version 1")]
    UnsupportedVersion(u8),
    /// A header field out of range.
    #[error("malformed sealed-file header: {0}")]
    MalformedHeader(&'static str),
    /// None of the wrapped keys opens with the given identity.
    #[error("no recipient matches this key: the file was sealed to someone else")]
    NoMatchingRecipient,
    /// The header MAC does not verify.
    #[error("header authentication failed: the header was modified")]
    HeaderTampered,
    /// A segment fails authentication.
    #[error("segment {index} failed authentication: the data was modified, reordered or spliced")]
    SegmentTampered {
        /// 0-based segment index.
        index: u64,
    },
    /// The stream ended early.
    #[error("sealed file is truncated ({0})")]
    Truncated(&'static str),
    /// Too many or too few recipients.
    #[error("a sealed file needs 1 to {max} recipients, got {got}", max = MAX_RECIPIENTS)]
    Recipients {
        /// How many were given.
        got: usize,
    },
    /// A public key string that does not parse.
    #[error("invalid public key: {0}")]
    BadPublicKey(String),
    /// An identity file that does not parse.
    #[error("invalid identity: {0}")]
    BadIdentity(String),
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// HPKE refused an operation (e.g. a low-order public key).
    #[error("HPKE error: {0}")]
    Hpke(String),
    /// Reading the input failed.
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// Writing the output failed.
    #[error("write failed: {0}")]
    Write(std::io::Error),
}

pub(crate) fn random<const N: usize>() -> Result<zeroize::Zeroizing<[u8; N]>, SealError> {
    let mut out = zeroize::Zeroizing::new([0u8; N]);
    getrandom::fill(out.as_mut()).map_err(|_| SealError::Rng)?;
    Ok(out)
}
