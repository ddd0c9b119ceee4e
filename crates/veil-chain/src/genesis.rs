//! The chain's starting point: chain id, first block and funded accounts. Its hash
//! heads the transaction log, so a log is never replayed onto another genesis.

use std::collections::BTreeMap;
use std::path::Path;

use alloy::primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::ChainError;

/// The chain id Veil's embedded chain uses unless told otherwise.
pub const DEFAULT_CHAIN_ID: u64 = 0x7e11;

/// What block 0 holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Block 0's timestamp (seconds).
    pub timestamp: u64,
    /// Every block's gas limit.
    pub gas_limit: u64,
    /// Block 0's base fee (wei); later blocks follow EIP-1559.
    pub base_fee: u64,
    /// Funded accounts (wei).
    pub alloc: BTreeMap<Address, U256>,
}

impl Genesis {
    /// A genesis at `timestamp` funding `alloc`, with mainnet-like limits.
    pub fn new(chain_id: u64, timestamp: u64, alloc: BTreeMap<Address, U256>) -> Self {
        Self { chain_id, timestamp, gas_limit: 30_000_000, base_fee: 1_000_000_000, alloc }
    }

    /// The hash that ties a transaction log to this genesis.
    pub fn hash(&self) -> B256 {
        let json = serde_json::to_vec(self).expect("genesis serialises");
        keccak256([b"veil/chain/genesis/v1\0".as_slice(), &json].concat())
    }

    /// Read a genesis file.
    pub fn load(path: &Path) -> Result<Self, ChainError> {
        let bytes = std::fs::read(path).map_err(|e| ChainError::Io(format!("{}: {e}", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| ChainError::Genesis(format!("{}: {e}", path.display())))
    }

    /// Write a genesis file atomically.
    pub fn save(&self, path: &Path) -> Result<(), ChainError> {
        let json = serde_json::to_vec_pretty(self).expect("genesis serialises");
        veil_fs::write_atomic(path, &json).map_err(|e| ChainError::Io(format!("{}: {e}", path.display())))
    }
}
