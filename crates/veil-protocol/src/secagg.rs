//! Secure aggregation's messages (after Bonawitz et al., CCS 2017): what clients
//! and the aggregator of one federated round exchange, stage by stage. The protocol
//! itself is `veil-secagg`.
//!
//! 1. [`Advertise`]: each client's two X25519 public keys (masks, share encryption).
//! 2. [`ShareKeys`]: Shamir shares of its self-mask seed and of its mask secret key,
//!    one encrypted bundle per other client, and commitments the aggregator checks.
//! 3. [`Masked`]: its fixed-point update plus a self mask and pairwise masks.
//! 4. [`UnmaskRequest`] → [`Reveal`]: seed shares of those who sent a masked
//!    update, key shares of those who dropped after sharing — never both for one
//!    client.

use serde::{Deserialize, Serialize};

/// A client's number within its federation.
pub type ClientId = u32;

/// What every message of a round is bound to: keys are derived from it, and every
/// ciphertext and commitment carries its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundConfig {
    /// The federation.
    pub federation: String,
    /// The round within it.
    pub round: u64,
    /// Who is asked to take part, in the order share indices follow.
    pub participants: Vec<ClientId>,
    /// Shares needed to reconstruct a secret; also the fewest clients a round may
    /// end with.
    pub threshold: u32,
    /// Parameters in an update.
    pub dim: u32,
    /// The largest absolute parameter value a client may send.
    pub clip: f32,
    /// Fixed-point fraction bits: a value x is sent as round(x · w · 2^bits), w the
    /// client's weight as a fraction of `max_weight`.
    pub scale_bits: u32,
    /// The largest weight (sample count) a client may claim.
    pub max_weight: u64,
}

/// Stage 1: a client's public keys for this round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advertise {
    /// Who.
    pub client: ClientId,
    /// X25519 key the pairwise masks are agreed with.
    pub mask_key: [u8; 32],
    /// X25519 key the share bundles are encrypted with.
    pub enc_key: [u8; 32],
}

/// One encrypted bundle of shares from one client to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedShares {
    /// The sender.
    pub from: ClientId,
    /// The recipient.
    pub to: ClientId,
    /// AES-256-GCM of the recipient's seed share and key share.
    pub ciphertext: Vec<u8>,
    /// Commitments to the two shares inside (SHA-256, domain-separated), which
    /// the recipient checks on opening and the aggregator on reveal: a share that
    /// does not match names who sent it.
    pub seed_share_digest: [u8; 32],
    /// See `seed_share_digest`.
    pub key_share_digest: [u8; 32],
}

/// Stage 2: a client's shares for everyone else, and a commitment to its seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareKeys {
    /// Who.
    pub client: ClientId,
    /// SHA-256 commitment to its self-mask seed.
    pub seed_commitment: [u8; 32],
    /// One bundle per other client on the roster.
    pub bundles: Vec<SealedShares>,
}

/// Stage 3: a client's masked update (`dim` parameters then its weight), mod 2³².
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Masked {
    /// Who.
    pub client: ClientId,
    /// The masked vector, `dim + 1` words.
    pub vector: Vec<u32>,
}

/// Stage 4, aggregator → client: whose seed shares and whose key shares to reveal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnmaskRequest {
    /// Clients whose masked update is in the sum: their seed shares.
    pub survivors: Vec<ClientId>,
    /// Clients that shared keys and then dropped: their mask-key shares.
    pub dropped: Vec<ClientId>,
}

/// One revealed share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealedShare {
    /// Whose secret it is a share of.
    pub of: ClientId,
    /// The share (Shamir over GF(2⁸): its x, then 32 bytes).
    pub share: Vec<u8>,
}

/// Stage 4, client → aggregator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reveal {
    /// Who.
    pub client: ClientId,
    /// Shares of survivors' self-mask seeds.
    pub seed_shares: Vec<RevealedShare>,
    /// Shares of dropped clients' mask secret keys.
    pub key_shares: Vec<RevealedShare>,
}
