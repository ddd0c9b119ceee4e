//! Following Veil's contracts' events from a cursor that survives restarts: read a
//! bounded block range, hand the events over, and only then persist the cursor, so a
//! crash repeats events rather than losing them.

use std::path::Path;

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEventInterface;
use serde::{Deserialize, Serialize};

use crate::bindings::{INFT, JobRegistry, ProverRegistry, ReceiptAnchor};
use crate::{ChainClient, LedgerError};

/// The next block to read; persisted as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCursor {
    /// Chain the cursor belongs to (a cursor is never applied to another chain).
    pub chain_id: u64,
    /// First block not yet delivered.
    pub next_block: u64,
}

impl EventCursor {
    /// Load a cursor, or start at block 0 of `chain_id` if the file does not exist.
    pub fn load(path: &Path, chain_id: u64) -> Result<Self, LedgerError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let c: Self = serde_json::from_slice(&bytes)
                    .map_err(|e| LedgerError::Io(format!("{}: {e}", path.display())))?;
                if c.chain_id != chain_id {
                    return Err(LedgerError::Io(format!(
                        "{}: cursor is for chain {}, not {chain_id}",
                        path.display(),
                        c.chain_id
                    )));
                }
                Ok(c)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self { chain_id, next_block: 0 }),
            Err(e) => Err(LedgerError::Io(format!("{}: {e}", path.display()))),
        }
    }

    /// Persist atomically (temp file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), LedgerError> {
        let json = serde_json::to_vec(self).expect("cursor serialises");
        veil_fs::write_atomic(path, &json).map_err(|e| LedgerError::Io(format!("{}: {e}", path.display())))
    }
}

/// A decoded event of one of Veil's contracts.
#[derive(Debug, Clone)]
pub enum VeilEvent {
    /// From the INFT contract.
    Inft(INFT::INFTEvents),
    /// From the prover registry.
    Provers(ProverRegistry::ProverRegistryEvents),
    /// From the job registry.
    Jobs(JobRegistry::JobRegistryEvents),
    /// From the receipt anchor.
    Anchor(ReceiptAnchor::ReceiptAnchorEvents),
}

/// An event and where it happened.
#[derive(Debug, Clone)]
pub struct LocatedEvent {
    /// The block.
    pub block: u64,
    /// The transaction.
    pub tx: B256,
    /// Index of the log in its block.
    pub log_index: u64,
    /// The event.
    pub event: VeilEvent,
}

/// What one poll returned.
#[derive(Debug, Clone)]
pub struct EventBatch {
    /// Events in chain order.
    pub events: Vec<LocatedEvent>,
    /// The cursor to save once the events are handled.
    pub next: EventCursor,
}

impl<P: Provider + Clone> ChainClient<P> {
    /// Events of Veil's contracts from `cursor` on, over at most `max_blocks` blocks
    /// and stopping `confirmations` blocks behind the head (0 on chains that never
    /// reorganise, such as the embedded one).
    pub async fn events_since(
        &self,
        cursor: EventCursor,
        max_blocks: u64,
        confirmations: u64,
    ) -> Result<EventBatch, LedgerError> {
        if cursor.chain_id != self.chain_id() {
            return Err(LedgerError::Io(format!(
                "cursor is for chain {}, not {}",
                cursor.chain_id,
                self.chain_id()
            )));
        }
        let head = self.block_number().await?.saturating_sub(confirmations);
        if cursor.next_block > head {
            return Ok(EventBatch { events: Vec::new(), next: cursor });
        }
        let to = head.min(cursor.next_block.saturating_add(max_blocks.max(1) - 1));
        let d = self.deployment();
        let filter = Filter::new()
            .address(vec![d.inft, d.provers, d.jobs, d.anchor])
            .from_block(cursor.next_block)
            .to_block(to);
        let logs =
            self.provider().get_logs(&filter).await.map_err(|e| LedgerError::Transport(e.to_string()))?;
        let events = logs.iter().filter_map(|log| locate(log, &d)).collect();
        Ok(EventBatch { events, next: EventCursor { chain_id: cursor.chain_id, next_block: to + 1 } })
    }
}

fn locate(log: &Log, d: &crate::Deployment) -> Option<LocatedEvent> {
    let inner = &log.inner;
    let from = |a: Address| inner.address == a;
    let event = if from(d.inft) {
        VeilEvent::Inft(INFT::INFTEvents::decode_log(inner).ok()?.data)
    } else if from(d.provers) {
        VeilEvent::Provers(ProverRegistry::ProverRegistryEvents::decode_log(inner).ok()?.data)
    } else if from(d.jobs) {
        VeilEvent::Jobs(JobRegistry::JobRegistryEvents::decode_log(inner).ok()?.data)
    } else if from(d.anchor) {
        VeilEvent::Anchor(ReceiptAnchor::ReceiptAnchorEvents::decode_log(inner).ok()?.data)
    } else {
        return None;
    };
    Some(LocatedEvent {
        block: log.block_number?,
        tx: log.transaction_hash?,
        log_index: log.log_index?,
        event,
    })
}
