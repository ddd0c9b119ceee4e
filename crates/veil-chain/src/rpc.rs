//! Ethereum JSON-RPC over the node: the subset alloy's providers, wallets and
//! Veil's clients use, with geth's error shapes (code 3 and the revert data for a
//! revert, so custom errors decode on the client).

use std::sync::{Arc, Mutex, MutexGuard};

use alloy::consensus::transaction::Recovered;
use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, Bytes, U64, U256};
use alloy::rpc::types::{
    Block, BlockTransactions, FeeHistory, Filter, FilterBlockOption, Header as RpcHeader, Log, Transaction,
    TransactionReceipt, TransactionRequest,
};
use revm::context_interface::result::ExecutionResult;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::ChainError;
use crate::node::{MinedBlock, MinedTx, Node};

/// The most logs one `eth_getLogs` answers; clients page by block range beyond it.
pub const MAX_LOGS: usize = 10_000;
/// The most blocks one `eth_feeHistory` covers.
const MAX_FEE_HISTORY: u64 = 1024;
/// The most reward percentiles one `eth_feeHistory` takes (geth's limit): with the block
/// bound, one answer is at most ~100,000 numbers, whatever the body asked for.
pub const MAX_REWARD_PERCENTILES: usize = 100;
/// The most requests in one batch.
pub const MAX_BATCH: usize = 100;
/// The most bytes of answers one batch gets (geth's default); answers past it are
/// refused one by one (code -32003), so the client learns which to send again.
pub const MAX_BATCH_RESPONSE_BYTES: usize = 25 << 20;
/// The tip `eth_maxPriorityFeePerGas` suggests (1 gwei, as geth's default).
const SUGGESTED_TIP: u128 = 1_000_000_000;

/// Where block timestamps come from.
pub trait Clock: Send + Sync + 'static {
    /// Unix seconds now.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The JSON-RPC code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
    /// Revert data, for code 3.
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }

    /// The error as a JSON-RPC `error` member.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"code": self.code, "message": self.message});
        if let Some(d) = &self.data {
            v["data"] = d.clone();
        }
        v
    }
}

impl From<ChainError> for RpcError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Execution(ExecutionResult::Revert { output, .. }) => {
                Self { code: 3, message: revert_message(&output), data: Some(json!(output)) }
            }
            ChainError::Execution(ExecutionResult::Halt { reason, .. }) => {
                Self::new(-32000, format!("execution halted: {reason:?}"))
            }
            e @ (ChainError::InvalidTransaction(_) | ChainError::UnknownBlock(_)) => {
                Self::new(-32000, e.to_string())
            }
            other => Self::new(-32603, other.to_string()),
        }
    }
}

/// "execution reverted", with the reason when it is a plain `Error(string)`.
fn revert_message(output: &Bytes) -> String {
    use alloy::sol_types::{Revert, SolError};
    match Revert::abi_decode(output) {
        Ok(r) => format!("execution reverted: {}", r.reason),
        Err(_) => "execution reverted".into(),
    }
}

/// The node behind JSON-RPC, shared by the in-process transport and the HTTP server.
#[derive(Clone)]
pub struct Rpc {
    node: Arc<Mutex<Node>>,
    clock: Arc<dyn Clock>,
    batch_response_limit: usize,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc").finish_non_exhaustive()
    }
}

fn param<T: DeserializeOwned>(params: &[Value], i: usize, what: &str) -> Result<T, RpcError> {
    let v =
        params.get(i).ok_or_else(|| RpcError::invalid_params(format!("missing parameter {i} ({what})")))?;
    serde_json::from_value(v.clone())
        .map_err(|e| RpcError::invalid_params(format!("parameter {i} ({what}): {e}")))
}

fn opt_param<T: DeserializeOwned>(params: &[Value], i: usize, what: &str) -> Result<Option<T>, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => param(params, i, what).map(Some),
    }
}

fn to_json<T: Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::new(-32603, e.to_string()))
}

impl Rpc {
    /// Serve `node`, stamping blocks with `clock`.
    pub fn new(node: Node, clock: Arc<dyn Clock>) -> Self {
        Self { node: Arc::new(Mutex::new(node)), clock, batch_response_limit: MAX_BATCH_RESPONSE_BYTES }
    }

    /// Bound a batch's answers to `bytes` instead of [`MAX_BATCH_RESPONSE_BYTES`].
    pub fn with_batch_response_limit(mut self, bytes: usize) -> Self {
        self.batch_response_limit = bytes;
        self
    }

    /// Exclusive access to the node. A poisoned lock (a bug panicked mid-request) is
    /// taken anyway: the log, appended before any state changes, stays the truth,
    /// and a restart rebuilds the node from it.
    pub fn node(&self) -> MutexGuard<'_, Node> {
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answer one JSON-RPC body (a request or a batch); `None` when it held only
    /// notifications.
    pub fn handle_body(&self, body: &[u8]) -> Option<Value> {
        let parsed: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Some(json!({
                    "jsonrpc": "2.0", "id": null,
                    "error": RpcError::new(-32700, format!("parse error: {e}")).to_json()
                }));
            }
        };
        match parsed {
            Value::Array(batch) if batch.is_empty() => Some(json!({
                "jsonrpc": "2.0", "id": null,
                "error": RpcError::new(-32600, "empty batch").to_json()
            })),
            Value::Array(batch) if batch.len() > MAX_BATCH => Some(json!({
                "jsonrpc": "2.0", "id": null,
                "error": RpcError::new(-32600, format!("a batch holds at most {MAX_BATCH} requests")).to_json()
            })),
            Value::Array(batch) => {
                let mut size = 0usize;
                let out: Vec<Value> = batch
                    .iter()
                    .filter_map(|r| {
                        let answer = self.handle_one(r)?;
                        size = size.saturating_add(answer.to_string().len());
                        if size <= self.batch_response_limit {
                            return Some(answer);
                        }
                        Some(json!({
                            "jsonrpc": "2.0", "id": answer.get("id").cloned().unwrap_or(Value::Null),
                            "error": RpcError::new(-32003, "response too large: the batch's answers passed their limit; send this request again alone").to_json()
                        }))
                    })
                    .collect();
                (!out.is_empty()).then_some(Value::Array(out))
            }
            one => self.handle_one(&one),
        }
    }

    fn handle_one(&self, request: &Value) -> Option<Value> {
        let id = request.get("id").cloned();
        let result = match (request.get("method").and_then(Value::as_str), request.get("params")) {
            (Some(method), None | Some(Value::Null)) => self.dispatch(method, &[]),
            (Some(method), Some(Value::Array(params))) => self.dispatch(method, params),
            (Some(_), Some(_)) => Err(RpcError::invalid_params("params must be an array")),
            (None, _) => Err(RpcError::new(-32600, "invalid request: no method")),
        };
        let id = id?;
        Some(match result {
            Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
            Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()}),
        })
    }

    /// Run one method.
    pub fn dispatch(&self, method: &str, params: &[Value]) -> Result<Value, RpcError> {
        let now = self.clock.now();
        let mut node = self.node();
        match method {
            "web3_clientVersion" => Ok(json!(concat!("veil-chain/", env!("CARGO_PKG_VERSION")))),
            "net_version" => Ok(json!(node.chain_id().to_string())),
            "net_listening" => Ok(json!(true)),
            "eth_chainId" => to_json(U64::from(node.chain_id())),
            "eth_blockNumber" => to_json(U64::from(node.head())),
            "eth_syncing" => Ok(json!(false)),
            "eth_accounts" => Ok(json!([])),
            "eth_gasPrice" => to_json(U256::from(u128::from(node.next_base_fee()) + SUGGESTED_TIP)),
            "eth_maxPriorityFeePerGas" => to_json(U256::from(SUGGESTED_TIP)),
            "eth_getBalance" => {
                let address: Address = param(params, 0, "address")?;
                let block = resolve(&node, opt_param(params, 1, "block")?)?;
                to_json(node.state_at(block).balance(address))
            }
            "eth_getTransactionCount" => {
                let address: Address = param(params, 0, "address")?;
                let block = resolve(&node, opt_param(params, 1, "block")?)?;
                to_json(U64::from(node.state_at(block).nonce(address)))
            }
            "eth_getCode" => {
                let address: Address = param(params, 0, "address")?;
                let block = resolve(&node, opt_param(params, 1, "block")?)?;
                to_json(node.state_at(block).code(address).original_bytes())
            }
            "eth_getStorageAt" => {
                let address: Address = param(params, 0, "address")?;
                let slot: U256 = param(params, 1, "slot")?;
                let block = resolve(&node, opt_param(params, 2, "block")?)?;
                to_json(B256::from(node.state_at(block).storage(address, slot)))
            }
            "eth_call" => {
                let req: TransactionRequest = param(params, 0, "transaction")?;
                let id: Option<BlockId> = opt_param(params, 1, "block")?;
                if params.get(2).is_some_and(|v| !v.is_null()) {
                    return Err(RpcError::invalid_params("state overrides are not supported"));
                }
                let result = if id == Some(BlockId::Number(BlockNumberOrTag::Pending)) {
                    node.call_pending(&req, now)?
                } else {
                    node.call(&req, resolve(&node, id)?)?
                };
                match result {
                    ExecutionResult::Success { output, .. } => to_json(output.into_data()),
                    failed => Err(ChainError::Execution(failed).into()),
                }
            }
            "eth_estimateGas" => {
                let req: TransactionRequest = param(params, 0, "transaction")?;
                to_json(U64::from(node.estimate_gas(&req, now)?))
            }
            "eth_sendRawTransaction" => {
                let raw: Bytes = param(params, 0, "raw transaction")?;
                let hash = node.send_raw(&raw, now)?;
                to_json(hash)
            }
            "eth_sendTransaction" => Err(RpcError::new(
                -32000,
                "the embedded chain holds no keys: sign locally and use eth_sendRawTransaction",
            )),
            "eth_getTransactionReceipt" => {
                let hash: B256 = param(params, 0, "hash")?;
                match node.transaction(hash) {
                    Some((block, tx)) => to_json(receipt_json(block, tx)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getTransactionByHash" => {
                let hash: B256 = param(params, 0, "hash")?;
                match node.transaction(hash) {
                    Some((block, tx)) => to_json(transaction_json(block, tx)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getBlockByNumber" => {
                let tag: BlockNumberOrTag = param(params, 0, "block")?;
                let full: bool = opt_param(params, 1, "full")?.unwrap_or(false);
                let number = match tag {
                    BlockNumberOrTag::Number(n) => n,
                    BlockNumberOrTag::Earliest => 0,
                    _ => node.head(),
                };
                match node.block(number) {
                    Some(b) => to_json(block_json(b, full)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getBlockByHash" => {
                let hash: B256 = param(params, 0, "hash")?;
                let full: bool = opt_param(params, 1, "full")?.unwrap_or(false);
                match node.block_by_hash(hash) {
                    Some(b) => to_json(block_json(b, full)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getLogs" => {
                let filter: Filter = param(params, 0, "filter")?;
                to_json(logs(&node, &filter)?)
            }
            "eth_feeHistory" => {
                let count: U64 = param(params, 0, "block count")?;
                let newest: BlockNumberOrTag = param(params, 1, "newest block")?;
                let percentiles: Option<Vec<f64>> = opt_param(params, 2, "reward percentiles")?;
                to_json(fee_history(&node, count.to::<u64>(), newest, percentiles)?)
            }
            _ => Err(RpcError::new(-32601, format!("method {method} is not supported"))),
        }
    }
}

/// The block a state query runs against: any tag but a number names the head (the
/// embedded chain has no mempool, so "pending" is the head as well).
fn resolve(node: &Node, id: Option<BlockId>) -> Result<u64, RpcError> {
    let number = match id {
        None => node.head(),
        Some(BlockId::Number(BlockNumberOrTag::Number(n))) => n,
        Some(BlockId::Number(BlockNumberOrTag::Earliest)) => 0,
        Some(BlockId::Number(_)) => node.head(),
        Some(BlockId::Hash(h)) => {
            node.block_by_hash(h.block_hash)
                .ok_or_else(|| RpcError::new(-32000, format!("block {} not found", h.block_hash)))?
                .header
                .number
        }
    };
    if number > node.head() {
        return Err(RpcError::new(-32000, format!("block {number} not found")));
    }
    Ok(number)
}

fn rpc_logs(block: &MinedBlock, tx: &MinedTx) -> Vec<Log> {
    tx.receipt
        .logs()
        .iter()
        .enumerate()
        .map(|(i, l)| Log {
            inner: l.clone(),
            block_hash: Some(block.hash),
            block_number: Some(block.header.number),
            block_timestamp: Some(block.header.timestamp),
            transaction_hash: Some(tx.hash),
            transaction_index: Some(0),
            log_index: Some(i as u64),
            removed: false,
        })
        .collect()
}

fn receipt_json(block: &MinedBlock, tx: &MinedTx) -> TransactionReceipt {
    let logs = rpc_logs(block, tx);
    let mut logs = logs.into_iter();
    TransactionReceipt {
        inner: tx.receipt.clone().map_logs(|_| logs.next().expect("one rpc log per log")),
        transaction_hash: tx.hash,
        transaction_index: Some(0),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        gas_used: tx.gas_used,
        effective_gas_price: tx.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: tx.from,
        to: alloy::consensus::Transaction::to(&tx.envelope),
        contract_address: tx.contract_address,
    }
}

fn transaction_json(block: &MinedBlock, tx: &MinedTx) -> Transaction {
    Transaction {
        inner: Recovered::new_unchecked(tx.envelope.clone(), tx.from),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        transaction_index: Some(0),
        effective_gas_price: Some(tx.effective_gas_price),
        block_timestamp: Some(block.header.timestamp),
    }
}

fn block_json(block: &MinedBlock, full: bool) -> Block {
    let transactions = match (&block.tx, full) {
        (None, _) => BlockTransactions::Hashes(Vec::new()),
        (Some(tx), false) => BlockTransactions::Hashes(vec![tx.hash]),
        (Some(tx), true) => BlockTransactions::Full(vec![transaction_json(block, tx)]),
    };
    Block {
        header: RpcHeader {
            hash: block.hash,
            inner: block.header.clone(),
            total_difficulty: Some(U256::ZERO),
            size: None,
        },
        uncles: Vec::new(),
        transactions,
        withdrawals: Some(Default::default()),
    }
}

fn logs(node: &Node, filter: &Filter) -> Result<Vec<Log>, RpcError> {
    let (from, to) = match filter.block_option {
        FilterBlockOption::AtBlockHash(h) => {
            let n = node
                .block_by_hash(h)
                .ok_or_else(|| RpcError::new(-32000, format!("block {h} not found")))?
                .header
                .number;
            (n, n)
        }
        FilterBlockOption::Range { from_block, to_block } => {
            let pick = |t: Option<BlockNumberOrTag>| match t {
                Some(BlockNumberOrTag::Number(n)) => n.min(node.head()),
                Some(BlockNumberOrTag::Earliest) => 0,
                _ => node.head(),
            };
            (pick(from_block), pick(to_block))
        }
    };
    let mut out = Vec::new();
    for number in from..=to {
        let Some(block) = node.block(number) else { break };
        let Some(tx) = &block.tx else { continue };
        if !filter.matches_bloom(block.header.logs_bloom) {
            continue;
        }
        for log in rpc_logs(block, tx) {
            if filter.matches(&log.inner) {
                out.push(log);
                if out.len() > MAX_LOGS {
                    return Err(RpcError::new(
                        -32005,
                        format!("query returned more than {MAX_LOGS} results; narrow the block range"),
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn fee_history(
    node: &Node,
    count: u64,
    newest: BlockNumberOrTag,
    percentiles: Option<Vec<f64>>,
) -> Result<FeeHistory, RpcError> {
    let newest = match newest {
        BlockNumberOrTag::Number(n) => n.min(node.head()),
        BlockNumberOrTag::Earliest => 0,
        _ => node.head(),
    };
    if percentiles.as_ref().is_some_and(|p| p.len() > MAX_REWARD_PERCENTILES) {
        return Err(RpcError::invalid_params(format!("at most {MAX_REWARD_PERCENTILES} reward percentiles")));
    }
    if let Some(p) = &percentiles
        && (p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
    {
        return Err(RpcError::invalid_params("reward percentiles must be ascending and within 0..=100"));
    }
    let count = count.clamp(1, MAX_FEE_HISTORY).min(newest + 1);
    let oldest = newest + 1 - count;
    let mut base_fee_per_gas = Vec::new();
    let mut gas_used_ratio = Vec::new();
    let mut reward = Vec::new();
    for number in oldest..=newest {
        let b = node.block(number).expect("within head");
        let base = b.header.base_fee_per_gas.unwrap_or_default();
        base_fee_per_gas.push(u128::from(base));
        gas_used_ratio.push(b.header.gas_used as f64 / b.header.gas_limit as f64);
        if let Some(p) = &percentiles {
            // One transaction per block: every percentile is its tip.
            let tip =
                b.tx.as_ref()
                    .map(|t| t.effective_gas_price.saturating_sub(u128::from(base)))
                    .unwrap_or_default();
            reward.push(vec![tip; p.len()]);
        }
    }
    let next = if newest == node.head() {
        node.next_base_fee()
    } else {
        node.block(newest + 1).and_then(|b| b.header.base_fee_per_gas).unwrap_or_default()
    };
    base_fee_per_gas.push(u128::from(next));
    Ok(FeeHistory {
        base_fee_per_gas,
        gas_used_ratio,
        base_fee_per_blob_gas: vec![1; count as usize + 1],
        blob_gas_used_ratio: vec![0.0; count as usize],
        oldest_block: oldest,
        reward: percentiles.map(|_| reward),
    })
}
