//! Veil's embedded chain: a real EVM (revm, Cancun rules) in-process, persisted as an
//! fsynced append-only log of the signed raw transactions it mined and replayed at
//! start. It speaks Ethereum JSON-RPC both as an alloy transport (so `ChainClient`
//! runs on it unchanged, with no socket) and over HTTP (so any wallet or tool can).
#![forbid(unsafe_code)]

mod genesis;
mod http;
mod node;
mod rpc;
mod state;
mod transport;
mod txlog;

pub use genesis::{DEFAULT_CHAIN_ID, Genesis};
pub use http::router;
pub use node::{MinedBlock, MinedTx, Node, OpenReport, SPEC};
pub use rpc::{
    Clock, MAX_BATCH, MAX_BATCH_RESPONSE_BYTES, MAX_REWARD_PERCENTILES, Rpc, RpcError, SystemClock,
};
pub use transport::EmbeddedTransport;

/// Why the chain refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A file could not be read or written.
    #[error("chain storage: {0}")]
    Io(String),
    /// Another process has the chain open.
    #[error("the chain log {0} is in use by another process (talk to it with --rpc instead)")]
    Locked(String),
    /// The log is damaged somewhere other than a torn final append.
    #[error("the chain log is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The log belongs to another genesis.
    #[error("the chain log was written for another genesis")]
    GenesisMismatch,
    /// The genesis file is unreadable.
    #[error("bad genesis: {0}")]
    Genesis(String),
    /// Replaying the log did not reproduce what was logged.
    #[error("replaying block {block} diverged: {reason}")]
    ReplayDiverged {
        /// The block that differs.
        block: u64,
        /// How.
        reason: String,
    },
    /// The transaction cannot be mined (decoding, signature, chain id, nonce, funds).
    #[error("invalid transaction: {0}")]
    InvalidTransaction(String),
    /// The EVM failed internally.
    #[error("evm: {0}")]
    Evm(String),
    /// No such block.
    #[error("block {0} not found")]
    UnknownBlock(u64),
    /// A call or estimate reverted or halted.
    #[error("execution failed: {0}")]
    Execution(revm::context_interface::result::ExecutionResult),
}
