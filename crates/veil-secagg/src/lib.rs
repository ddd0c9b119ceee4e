//! Secure aggregation for one federated round, after Bonawitz et al., "Practical
//! Secure Aggregation for Privacy-Preserving Machine Learning" (CCS 2017), the
//! protocol Flower's SecAgg+ also follows: the aggregator learns the weighted sum of
//! the updates of the clients that finished, and nothing about any one of them.
//!
//! Each client agrees a pairwise mask seed with every other (X25519, then HKDF-SHA256
//! bound to the round), draws a self-mask seed, and Shamir-shares (t of n, GF(2⁸),
//! `vsss-rs`) both the self-mask seed and its mask secret key among the others,
//! encrypted to each (AES-256-GCM under an X25519 agreement). Its update is sent as
//! fixed-point words mod 2³² plus the self mask plus, for each other client j, the
//! mask agreed with j added (if it has the smaller id) or subtracted: summed over
//! the survivors, the pairwise masks cancel, the self masks are removed with the
//! revealed seeds, and the masks shared with clients that dropped after sharing are
//! rebuilt from their reconstructed keys. Masks are ChaCha12 keystreams.
//!
//! Invariants this crate keeps (and tests): a client never reveals both the seed
//! share and the key share of the same client in a round; a round with fewer than
//! t clients at any stage stops with [`SecAggError::BelowThreshold`]; a share that
//! does not match the commitment its dealer published names the client that
//! revealed it, a secret that does not reconstruct to its commitment names its
//! dealer; the fixed-point range is checked when the round is configured, so no sum
//! can wrap (see [`encode`]).
//!
//! No I/O, no clock: the caller moves the messages ([`veil_protocol::secagg`]).
#![forbid(unsafe_code)]

mod aggregator;
mod client;
mod crypto;
pub mod encode;

pub use aggregator::{Aggregate, Aggregator};
pub use client::Client;
pub use crypto::add_mask;
pub use veil_protocol::secagg::{
    Advertise, ClientId, Masked, Reveal, RevealedShare, RoundConfig, SealedShares, ShareKeys, UnmaskRequest,
};

/// Why a round (or one client's part in it) stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecAggError {
    /// The round's configuration is unusable.
    #[error("bad round configuration: {0}")]
    Config(String),
    /// A message from, or about, a client the stage does not include.
    #[error("client {0} is not in this stage of the round")]
    NotInRound(ClientId),
    /// A message came twice.
    #[error("client {0} already sent this stage's message")]
    Duplicate(ClientId),
    /// A message that is not this stage's.
    #[error("out of order: {0}")]
    Stage(&'static str),
    /// An update of the wrong size.
    #[error("the update has {got} parameters; the round has {want}")]
    Dimension {
        /// What came.
        got: usize,
        /// What the round takes.
        want: usize,
    },
    /// NaN or infinity in an update.
    #[error("parameter {index} is not a finite number")]
    NonFinite {
        /// Where.
        index: usize,
    },
    /// A parameter beyond the clip (refused, never clipped quietly).
    #[error("parameter {index} is {value}, beyond the round's range ±{clip}")]
    OutOfRange {
        /// Where.
        index: usize,
        /// What.
        value: f32,
        /// The round's bound.
        clip: f32,
    },
    /// A weight of zero or above the round's maximum.
    #[error("weight {weight} is not in 1..={max}")]
    Weight {
        /// What was claimed.
        weight: u64,
        /// The round's maximum.
        max: u64,
    },
    /// Too few clients left to go on.
    #[error("only {have} clients remain at {stage}; the round needs {threshold}")]
    BelowThreshold {
        /// How many remain.
        have: usize,
        /// How many the round needs.
        threshold: u32,
        /// Where it stopped.
        stage: &'static str,
    },
    /// A message that does not parse or does not fit the round.
    #[error("client {client} sent a malformed message: {why}")]
    Malformed {
        /// The sender.
        client: ClientId,
        /// What is wrong.
        why: String,
    },
    /// A share that does not match its dealer's commitment.
    #[error("client {offender} revealed a share of client {of}'s secret that does not match its commitment")]
    BadShare {
        /// Who revealed it (or, when a recipient finds it on opening, who dealt it).
        offender: ClientId,
        /// Whose secret.
        of: ClientId,
    },
    /// Shares that match their commitments but do not reconstruct the committed
    /// secret: the dealer dealt inconsistent shares.
    #[error("client {dealer}'s shares do not reconstruct the secret it committed to")]
    BadSecret {
        /// The dealer.
        dealer: ClientId,
    },
    /// An unmask request that would reveal both secrets of one client.
    #[error("asked to reveal both the self-mask seed and the mask key of client {0}")]
    BothRevealed(ClientId),
    /// The operating system's randomness failed.
    #[error("randomness unavailable: {0}")]
    Random(String),
}
