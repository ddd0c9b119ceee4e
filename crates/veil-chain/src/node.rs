//! The node: mines each accepted transaction into its own block (like anvil's
//! automine), logs it durably before anyone hears of it, and answers queries about
//! any block.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use alloy::consensus::transaction::SignerRecoverable;
use alloy::consensus::{
    EMPTY_OMMER_ROOT_HASH, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction, TxEnvelope,
    TxType, proofs,
};
use alloy::eips::eip1559::BaseFeeParams;
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::primitives::{Address, B64, B256, Bytes, Log, TxKind, U256, keccak256, logs_bloom};
use alloy::rpc::types::TransactionRequest;
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::context_interface::result::{EVMError, ExecutionResult, ResultAndState};
use revm::database_interface::WrapDatabaseRef;
use revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN;
use revm::primitives::hardfork::SpecId;
use revm::{ExecuteEvm, MainBuilder, MainContext};

use crate::ChainError;
use crate::genesis::Genesis;
use crate::state::Archive;
use crate::txlog::{MAX_RAW_TX, Record, TxLog};

/// The EVM rules the chain runs (the contracts are compiled for Cancun).
pub const SPEC: SpecId = SpecId::CANCUN;

/// A transaction as mined, with what it produced.
#[derive(Debug, Clone)]
pub struct MinedTx {
    /// The signed transaction.
    pub envelope: TxEnvelope,
    /// Its hash.
    pub hash: B256,
    /// Its recovered sender.
    pub from: Address,
    /// The consensus receipt (status, cumulative gas, logs, bloom).
    pub receipt: ReceiptEnvelope,
    /// Gas it used.
    pub gas_used: u64,
    /// What each unit of gas cost.
    pub effective_gas_price: u128,
    /// The contract it created, if any.
    pub contract_address: Option<Address>,
}

/// One sealed block (at most one transaction).
#[derive(Debug, Clone)]
pub struct MinedBlock {
    /// The consensus header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// The transaction it carries (none for block 0).
    pub tx: Option<MinedTx>,
}

/// What opening a chain directory found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// Transactions replayed from the log.
    pub replayed: u64,
    /// Bytes of a torn final append cut off the log.
    pub truncated: u64,
}

/// The embedded chain.
#[derive(Debug)]
pub struct Node {
    genesis: Genesis,
    archive: Archive,
    blocks: Vec<MinedBlock>,
    by_tx: HashMap<B256, u64>,
    by_hash: HashMap<B256, u64>,
    log: Option<TxLog>,
    dir: Option<PathBuf>,
}

/// The file names inside a chain directory.
const GENESIS_FILE: &str = "genesis.json";
const LOG_FILE: &str = "txs.log";

impl Node {
    /// A chain that lives only in memory (benchmarks of the EVM alone, tests).
    pub fn ephemeral(genesis: Genesis) -> Self {
        let mut node = Self::empty(genesis);
        node.seal_genesis();
        node
    }

    /// Open the chain in `dir`, creating it from `genesis` if the directory holds
    /// none (an existing chain keeps its own genesis), and replay its log.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<(Self, OpenReport), ChainError> {
        veil_fs::create_private_dir(dir).map_err(|e| ChainError::Io(format!("{}: {e}", dir.display())))?;
        let genesis_path = dir.join(GENESIS_FILE);
        let genesis = if genesis_path.exists() {
            Genesis::load(&genesis_path)?
        } else {
            genesis.save(&genesis_path)?;
            genesis.clone()
        };
        let opened = TxLog::open(&dir.join(LOG_FILE), genesis.hash())?;
        let mut node = Self::empty(genesis);
        node.seal_genesis();
        let replayed = opened.records.len() as u64;
        for record in opened.records {
            node.replay(record)?;
        }
        node.log = Some(opened.log);
        node.dir = Some(dir.to_path_buf());
        Ok((node, OpenReport { replayed, truncated: opened.truncated }))
    }

    fn empty(genesis: Genesis) -> Self {
        Self {
            genesis,
            archive: Archive::default(),
            blocks: Vec::new(),
            by_tx: HashMap::new(),
            by_hash: HashMap::new(),
            log: None,
            dir: None,
        }
    }

    fn seal_genesis(&mut self) {
        for (address, balance) in &self.genesis.alloc {
            self.archive.set_genesis_balance(*address, *balance);
        }
        let header = Header {
            state_root: self.genesis.hash(),
            transactions_root: alloy::consensus::EMPTY_ROOT_HASH,
            receipts_root: alloy::consensus::EMPTY_ROOT_HASH,
            timestamp: self.genesis.timestamp,
            base_fee_per_gas: Some(self.genesis.base_fee),
            ..self.header_template()
        };
        self.push_block(header, None);
    }

    /// What every block header of this chain shares (Cancun fields, no uncles,
    /// withdrawals or blobs).
    fn header_template(&self) -> Header {
        Header {
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: Address::ZERO,
            difficulty: U256::ZERO,
            gas_limit: self.genesis.gas_limit,
            extra_data: Bytes::from_static(b"veil"),
            nonce: B64::ZERO,
            withdrawals_root: Some(alloy::consensus::EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            ..Header::default()
        }
    }

    fn push_block(&mut self, header: Header, tx: Option<MinedTx>) {
        let hash = header.hash_slow();
        let number = header.number;
        self.archive.push_block_hash(hash);
        if let Some(tx) = &tx {
            self.by_tx.insert(tx.hash, number);
        }
        self.by_hash.insert(hash, number);
        self.blocks.push(MinedBlock { header, hash, tx });
    }

    /// The chain's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.genesis.chain_id
    }

    /// The directory it persists to, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Bytes of the transaction log on disk (none for an ephemeral chain).
    pub fn log_bytes(&self) -> Option<u64> {
        self.log.as_ref().map(TxLog::bytes)
    }

    /// The latest block's number.
    pub fn head(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    /// A block by number.
    pub fn block(&self, number: u64) -> Option<&MinedBlock> {
        self.blocks.get(usize::try_from(number).ok()?)
    }

    /// A block by hash.
    pub fn block_by_hash(&self, hash: B256) -> Option<&MinedBlock> {
        self.block(*self.by_hash.get(&hash)?)
    }

    /// A mined transaction and the block it is in.
    pub fn transaction(&self, hash: B256) -> Option<(&MinedBlock, &MinedTx)> {
        let block = self.block(*self.by_tx.get(&hash)?)?;
        Some((block, block.tx.as_ref()?))
    }

    /// The state after `block`.
    pub fn state_at(&self, block: u64) -> crate::state::View<'_> {
        self.archive.at(block)
    }

    /// The base fee the next block will charge.
    pub fn next_base_fee(&self) -> u64 {
        let parent = &self.blocks[self.blocks.len() - 1].header;
        parent.next_block_base_fee(BaseFeeParams::ethereum()).unwrap_or(self.genesis.base_fee)
    }

    /// The environment of the block after the head, mined at `now`.
    fn next_block_env(&self, now: u64) -> BlockEnv {
        let parent = &self.blocks[self.blocks.len() - 1];
        // Timestamps strictly increase even if the clock steps back.
        let timestamp = now.max(parent.header.timestamp + 1);
        self.block_env(parent.header.number + 1, timestamp, self.next_base_fee(), keccak256(parent.hash))
    }

    fn block_env(&self, number: u64, timestamp: u64, basefee: u64, prevrandao: B256) -> BlockEnv {
        let mut env = BlockEnv {
            number: U256::from(number),
            beneficiary: Address::ZERO,
            timestamp: U256::from(timestamp),
            gas_limit: self.genesis.gas_limit,
            basefee,
            difficulty: U256::ZERO,
            prevrandao: Some(prevrandao),
            ..BlockEnv::default()
        };
        env.set_blob_excess_gas_and_price(0, BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN);
        env
    }

    /// The environment a call "at" block `number` runs in: that block's own.
    fn env_of(&self, number: u64) -> Option<BlockEnv> {
        let b = self.block(number)?;
        Some(self.block_env(
            number,
            b.header.timestamp,
            b.header.base_fee_per_gas.unwrap_or_default(),
            b.header.mix_hash,
        ))
    }

    fn execute(
        &self,
        state_block: u64,
        env: BlockEnv,
        tx: TxEnv,
        relaxed: bool,
    ) -> Result<ResultAndState, ChainError> {
        let db = WrapDatabaseRef(self.archive.at(state_block));
        let mut cfg = CfgEnv::new_with_spec(SPEC);
        cfg.chain_id = self.genesis.chain_id;
        if relaxed {
            // eth_call and eth_estimateGas: no fee and no nonce, as geth does.
            cfg.disable_base_fee = true;
            cfg.disable_nonce_check = true;
        }
        let mut evm = Context::mainnet().with_db(db).with_cfg(cfg).with_block(env).build_mainnet();
        evm.transact(tx).map_err(|e| match e {
            EVMError::Transaction(t) => ChainError::InvalidTransaction(t.to_string()),
            EVMError::Header(h) => ChainError::InvalidTransaction(h.to_string()),
            other => ChainError::Evm(other.to_string()),
        })
    }

    /// Accept a signed transaction, mine it at `now` (unix seconds) and log it
    /// durably; returns its hash. A transaction that reverts is still mined (status 0),
    /// as on any chain; one that is invalid (bad nonce, funds, chain id) is refused.
    pub fn send_raw(&mut self, raw: &[u8], now: u64) -> Result<B256, ChainError> {
        if raw.len() > MAX_RAW_TX {
            return Err(ChainError::InvalidTransaction(format!(
                "transaction of {} bytes exceeds the {MAX_RAW_TX}-byte limit",
                raw.len()
            )));
        }
        let env = self.next_block_env(now);
        let (mined, header, state) = self.mine(raw, env)?;
        let record = Record {
            number: header.number,
            timestamp: header.timestamp,
            outcome: outcome(&mined.receipt),
            raw: Bytes::copy_from_slice(raw),
        };
        if let Some(log) = self.log.as_mut() {
            log.append(&record)?;
        }
        let hash = mined.hash;
        self.archive.commit(header.number, state);
        self.push_block(header, Some(mined));
        Ok(hash)
    }

    fn replay(&mut self, record: Record) -> Result<(), ChainError> {
        let number = self.head() + 1;
        if record.number != number {
            return Err(ChainError::ReplayDiverged {
                block: record.number,
                reason: format!("logged as block {}, expected {number}", record.number),
            });
        }
        let parent = &self.blocks[self.blocks.len() - 1];
        if record.timestamp <= parent.header.timestamp {
            return Err(ChainError::ReplayDiverged {
                block: number,
                reason: "timestamp does not increase".into(),
            });
        }
        let env = self.block_env(number, record.timestamp, self.next_base_fee(), keccak256(parent.hash));
        let (mined, header, state) = self
            .mine(&record.raw, env)
            .map_err(|e| ChainError::ReplayDiverged { block: number, reason: e.to_string() })?;
        if outcome(&mined.receipt) != record.outcome {
            return Err(ChainError::ReplayDiverged {
                block: number,
                reason: "the receipt differs from the one logged".into(),
            });
        }
        self.archive.commit(number, state);
        self.push_block(header, Some(mined));
        Ok(())
    }

    /// Execute `raw` as the next block; nothing is committed.
    fn mine(
        &self,
        raw: &[u8],
        env: BlockEnv,
    ) -> Result<(MinedTx, Header, revm::state::EvmState), ChainError> {
        let envelope = TxEnvelope::decode_2718_exact(raw)
            .map_err(|e| ChainError::InvalidTransaction(format!("undecodable: {e}")))?;
        let from = envelope
            .recover_signer()
            .map_err(|e| ChainError::InvalidTransaction(format!("bad signature: {e}")))?;
        match envelope.chain_id() {
            Some(id) if id == self.genesis.chain_id => {}
            Some(id) => {
                return Err(ChainError::InvalidTransaction(format!(
                    "signed for chain {id}, this chain is {}",
                    self.genesis.chain_id
                )));
            }
            None => {
                return Err(ChainError::InvalidTransaction(
                    "transaction is not replay-protected (EIP-155 chain id missing)".into(),
                ));
            }
        }
        let tx_env = tx_env_of(&envelope, from)?;
        let number = env.number.saturating_to::<u64>();
        let timestamp = env.timestamp.saturating_to::<u64>();
        let basefee = env.basefee;
        let prevrandao = env.prevrandao.unwrap_or_default();
        let ResultAndState { result, state } = self.execute(self.head(), env, tx_env, false)?;
        let gas_used = result.tx_gas_used();
        let logs: Vec<Log> = result.logs().to_vec();
        let receipt = Receipt { status: result.is_success().into(), cumulative_gas_used: gas_used, logs };
        let bloom = logs_bloom(receipt.logs.iter());
        let receipt =
            ReceiptEnvelope::from_typed(envelope.tx_type(), ReceiptWithBloom { receipt, logs_bloom: bloom });
        let effective_gas_price = envelope.effective_gas_price(Some(basefee));
        let contract_address = match (envelope.kind(), &result) {
            (TxKind::Create, ExecutionResult::Success { .. }) => result.created_address(),
            _ => None,
        };
        let parent = &self.blocks[self.blocks.len() - 1];
        let header = Header {
            parent_hash: parent.hash,
            // Not a Merkle-Patricia root: a running commitment to the log (the parent's
            // commitment and this block's receipt), since nothing verifies state
            // proofs against the embedded chain.
            state_root: keccak256([parent.header.state_root, outcome(&receipt)].concat()),
            transactions_root: proofs::calculate_transaction_root(std::slice::from_ref(&envelope)),
            receipts_root: proofs::calculate_receipt_root(std::slice::from_ref(&receipt)),
            logs_bloom: bloom,
            number,
            gas_used,
            timestamp,
            mix_hash: prevrandao,
            base_fee_per_gas: Some(basefee),
            ..self.header_template()
        };
        let hash = *envelope.tx_hash();
        Ok((
            MinedTx { envelope, hash, from, receipt, gas_used, effective_gas_price, contract_address },
            header,
            state,
        ))
    }

    /// Run `req` against the state after `block` without changing anything.
    pub fn call(&self, req: &TransactionRequest, block: u64) -> Result<ExecutionResult, ChainError> {
        let env = self.env_of(block).ok_or(ChainError::UnknownBlock(block))?;
        self.call_in(req, block, env)
    }

    /// Run `req` as if in the next block, mined at `now` (what a transaction sent now
    /// would see: its block number and timestamp).
    pub fn call_pending(&self, req: &TransactionRequest, now: u64) -> Result<ExecutionResult, ChainError> {
        self.call_in(req, self.head(), self.next_block_env(now))
    }

    fn call_in(
        &self,
        req: &TransactionRequest,
        block: u64,
        env: BlockEnv,
    ) -> Result<ExecutionResult, ChainError> {
        let gas = req.gas.unwrap_or(self.genesis.gas_limit).min(self.genesis.gas_limit);
        let tx = request_env(req, gas, self.genesis.chain_id);
        Ok(self.execute(block, env, tx, true)?.result)
    }

    /// The least gas limit (within geth's 1.5% tolerance) at which `req` succeeds
    /// in the next block; a request that fails at the block gas limit is an error
    /// carrying its revert data.
    pub fn estimate_gas(&self, req: &TransactionRequest, now: u64) -> Result<u64, ChainError> {
        let env = self.next_block_env(now);
        let cap = req.gas.unwrap_or(self.genesis.gas_limit).min(self.genesis.gas_limit);
        let run = |gas: u64| -> Result<ExecutionResult, ChainError> {
            let tx = request_env(req, gas, self.genesis.chain_id);
            Ok(self.execute(self.head(), env.clone(), tx, true)?.result)
        };
        let first = run(cap)?;
        if !first.is_success() {
            return Err(ChainError::Execution(first));
        }
        let used = first.tx_gas_used();
        let refunded = first.gas().final_refunded();
        let mut lo = used.saturating_sub(1);
        let mut hi = cap;
        // Most transactions succeed at what they used plus the 63/64 reserve.
        let optimistic = (used + refunded + 2300).saturating_mul(64) / 63;
        if optimistic < hi {
            if run(optimistic)?.is_success() {
                hi = optimistic;
            } else {
                lo = optimistic;
            }
        }
        while hi - lo > 1 && (hi - lo) * 1000 / hi > 15 {
            let mid = lo + (hi - lo) / 2;
            if run(mid)?.is_success() {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }
}

/// The receipt digest logged with each transaction and checked on replay.
fn outcome(receipt: &ReceiptEnvelope) -> B256 {
    keccak256(receipt.encoded_2718())
}

fn tx_env_of(envelope: &TxEnvelope, from: Address) -> Result<TxEnv, ChainError> {
    let ty = envelope.tx_type();
    if !matches!(ty, TxType::Legacy | TxType::Eip2930 | TxType::Eip1559) {
        return Err(ChainError::InvalidTransaction(format!(
            "transaction type {} is not accepted (legacy, EIP-2930 and EIP-1559 are)",
            ty as u8
        )));
    }
    Ok(TxEnv {
        tx_type: ty as u8,
        caller: from,
        gas_limit: envelope.gas_limit(),
        gas_price: envelope.max_fee_per_gas(),
        kind: envelope.kind(),
        value: envelope.value(),
        data: envelope.input().clone(),
        nonce: envelope.nonce(),
        chain_id: envelope.chain_id(),
        access_list: envelope.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: envelope.max_priority_fee_per_gas(),
        ..TxEnv::default()
    })
}

fn request_env(req: &TransactionRequest, gas: u64, chain_id: u64) -> TxEnv {
    TxEnv {
        tx_type: if req.access_list.is_some() { 1 } else { 0 },
        caller: req.from.unwrap_or_default(),
        gas_limit: gas,
        gas_price: 0,
        kind: req.to.unwrap_or(TxKind::Create),
        value: req.value.unwrap_or_default(),
        data: req.input.input().cloned().unwrap_or_default(),
        nonce: 0,
        chain_id: Some(chain_id),
        access_list: req.access_list.clone().unwrap_or_default(),
        gas_priority_fee: None,
        ..TxEnv::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txlog::encode;
    use alloy::consensus::{SignableTransaction, TxEip1559};
    use alloy::network::TxSignerSync;
    use alloy::signers::local::PrivateKeySigner;

    fn signed_transfer(key: &PrivateKeySigner, chain_id: u64) -> Bytes {
        let mut tx = TxEip1559 {
            chain_id,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(0xee)),
            value: U256::from(1),
            ..Default::default()
        };
        let sig = key.sign_transaction_sync(&mut tx).unwrap();
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
    }

    /// A log holding `records` after the header, for a chain funding `key`.
    fn log_with(dir: &Path, genesis: &Genesis, records: &[Record]) {
        drop(Node::open(dir, genesis).unwrap());
        let path = dir.join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        for r in records {
            bytes.extend(encode(r));
        }
        std::fs::write(&path, &bytes).unwrap();
    }

    #[test]
    fn a_log_that_does_not_replay_to_what_it_recorded_is_refused() {
        let key = PrivateKeySigner::from_bytes(&B256::repeat_byte(1)).unwrap();
        let genesis = Genesis::new(7, 1_000, [(key.address(), U256::from(10u128.pow(20)))].into());
        let raw = signed_transfer(&key, 7);
        let good = {
            let dir = tempfile::tempdir().unwrap();
            let (mut node, _) = Node::open(dir.path(), &genesis).unwrap();
            node.send_raw(&raw, 2_000).unwrap();
            outcome(&node.block(1).unwrap().tx.as_ref().unwrap().receipt)
        };
        let record = |number, outcome| Record { number, timestamp: 2_000, outcome, raw: raw.clone() };
        // Well-formed records (checksums intact) that do not replay: another receipt
        // digest (what an EVM change would cause), a gap in block numbers.
        for (records, block, why) in [
            (vec![record(1, B256::repeat_byte(9))], 1, "receipt differs"),
            (vec![record(2, good)], 2, "expected 1"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            log_with(dir.path(), &genesis, &records);
            match Node::open(dir.path(), &genesis) {
                Err(ChainError::ReplayDiverged { block: b, reason }) => {
                    assert_eq!(b, block);
                    assert!(reason.contains(why), "{reason}");
                }
                other => panic!("expected divergence, got {other:?}"),
            }
        }
        let dir = tempfile::tempdir().unwrap();
        log_with(dir.path(), &genesis, &[record(1, good)]);
        let (node, report) = Node::open(dir.path(), &genesis).unwrap();
        assert_eq!((node.head(), report.replayed), (1, 1));
    }
}
