//! The transparency log: an append-only RFC 6962 Merkle tree whose leaves are
//! Veil's public records (receipts by id, and later measurements, policy changes
//! and model registrations), stored as C2SP `tlog-tiles` and summed up in C2SP
//! checkpoints signed as C2SP signed notes by the log's Ed25519 key.
//!
//! The tree math (stored-hash indexes, proofs) is the Go sumdb `tlog` package as
//! ported by Cloudflare (`tlog_tiles`); every call into it is guarded here so that
//! no input from outside reaches one of its assertions. Tile paths, checkpoints and
//! the entry bundles are this crate's, to the C2SP specs.
//!
//! Durability: an append is acknowledged only after the tiles holding it and a
//! checkpoint covering it are fsynced ([`Log`]). The checkpoint is the commit point:
//! tiles past it are ignored on open, and opening refuses a directory whose tiles
//! do not hash to its checkpoint's root.
#![forbid(unsafe_code)]

mod entry;
mod log;
mod note;
mod path;
mod proof;
mod store;
mod witness;

pub use entry::{
    Admission, bundle_entries, bundle_push, decode_entry, encode_entry, receipt_entry, receipt_leaf,
};
pub use log::{Appended, Done, Log, LogOptions, Snapshot};
pub use note::{Checkpoint, LogSigner, LogVerifier, generate_key, witness_key};
pub use path::TilePath;
pub use proof::{check_consistency, check_inclusion, leaf_hash, verify_consistency, verify_inclusion};
pub use veil_protocol::LogHash;
pub use witness::{Witness, WitnessError, verify_cosignature};

use veil_protocol::ErrorCode;

/// The digest a log keeps of its declaration token (never the token itself), so
/// that a leaked configuration does not leak the right to declare.
pub fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::new()
        .chain_update(b"veil/log/declare-token/v1\0")
        .chain_update(token.as_bytes())
        .finalize()
        .into()
}

/// Tiles are 2⁸ hashes wide (C2SP tlog-tiles).
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Why the log refused.
#[derive(Debug, thiserror::Error)]
pub enum TlogError {
    /// An entry (or the receipt it is made from) is malformed or does not verify.
    #[error("malformed log entry: {0}")]
    EntryMalformed(String),
    /// An entry is larger than the log takes.
    #[error("log entry of {len} bytes is larger than {max}")]
    EntryTooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A receipt's time is outside the admission window.
    #[error("receipt made at {created_at} is outside the log's window at {now}: {why}")]
    EntryTime {
        /// The receipt's time (unix seconds).
        created_at: i64,
        /// The log's time.
        now: u64,
        /// Backdated or future.
        why: &'static str,
    },
    /// Something was asked for beyond the tree.
    #[error("{what} {asked} is beyond the tree's size {size}")]
    BeyondTree {
        /// What was asked for.
        what: &'static str,
        /// The index or size asked for.
        asked: u64,
        /// The tree's size.
        size: u64,
    },
    /// A checkpoint does not parse or is not signed by the key it must be.
    #[error("bad checkpoint: {0}")]
    BadCheckpoint(String),
    /// A checkpoint is older than one already seen.
    #[error("checkpoint of size {given} is older than the size {seen} already seen")]
    StaleCheckpoint {
        /// The size already seen.
        seen: u64,
        /// The size given.
        given: u64,
    },
    /// Two views of the log disagree.
    #[error("inconsistent log: {0}")]
    Inconsistent(String),
    /// A proof does not verify.
    #[error("proof does not verify: {0}")]
    BadProof(String),
    /// The stored log does not match its checkpoint.
    #[error("log directory is corrupt: {0}")]
    Corrupt(String),
    /// Too many submissions wait already.
    #[error("the log has {0} submissions waiting; try again")]
    Busy(usize),
    /// The log is shutting down.
    #[error("the log is closed")]
    Closed,
    /// Reading or writing the log's files failed.
    #[error("log storage: {0}")]
    Io(#[from] std::io::Error),
}

impl TlogError {
    /// The stable code a service refuses with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::EntryMalformed(_) => ErrorCode::LogEntryMalformed,
            Self::EntryTooLarge { .. } => ErrorCode::LogEntryTooLarge,
            Self::EntryTime { .. } => ErrorCode::LogEntryTime,
            Self::BeyondTree { .. } => ErrorCode::LogBeyondTree,
            Self::BadCheckpoint(_) => ErrorCode::LogBadCheckpoint,
            Self::StaleCheckpoint { .. } => ErrorCode::LogStaleCheckpoint,
            Self::Inconsistent(_) => ErrorCode::LogInconsistent,
            Self::BadProof(_) => ErrorCode::LogBadProof,
            Self::Busy(_) => ErrorCode::LogBusy,
            Self::Corrupt(_) | Self::Closed | Self::Io(_) => ErrorCode::LogStorage,
        }
    }
}
