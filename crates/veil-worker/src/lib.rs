//! The attested worker: Veil's simulated (or real) enclave process.
//!
//! At start a worker generates its HPKE and receipt-signing keys inside, loads every
//! model it serves by weights root (verified), and attests to the key broker with
//! evidence binding those keys. Then, per job, it checks the user's EIP-712 signature
//! itself, asks the broker for the token's key on that user's behalf (the broker reads
//! `isAuthorized` on the ledger and audits the decision), fetches the sealed data by
//! root, opens it, runs the model (a classic ONNX model over the token's records, or
//! a language model answering from passages retrieved from the token's documents,
//! `chat.rs`) and signs a receipt whose evidence is its attestation. Plaintext never
//! leaves this process; only predictions and completions do. An int8 model evaluates
//! rows encrypted under the caller's FHE key instead (`fhe.rs`): the worker sees
//! ciphertexts only. The worker also aggregates federated rounds (`fl.rs`): secure
//! aggregation's sum, the new global model, and an `fl` receipt signed inside; and
//! it trains a model on a token's table for a `JobRegistry` job (`train.rs`), signing
//! the `train` receipt and the job's completion inside.
#![forbid(unsafe_code)]

mod chat;
pub mod fhe;
mod fl;
mod market;
mod server;
mod train;
mod worker;

pub use chat::{MAX_CONTEXT_PASSAGES, MAX_CONTEXT_TOKENS};
pub use server::router;
pub use veil_model::ModelFormat;
pub use worker::{
    CHAIN_KEY, JobError, MAX_DATA_BYTES, ModelEntry, Timings, Worker, WorkerConfig, WorkerError,
};
