//! The proof server. A client seals its private statement (a payment history and salt,
//! or a model input and salt) to the prover's key, posts it, and polls for the proof;
//! everyone else can check the proof with the verifying key, with snarkjs, or on
//! chain. A nonce challenge gets evidence binding that key (when the prover runs in a
//! TEE, or the simulated one). Each proof comes with a
//! Veil receipt (mode `zk`) signed by the prover, carrying the proof and its public
//! inputs so `veil verify` checks the proof itself.
//!
//! Proving runs on one dedicated thread fed by a bounded queue (arkworks uses every
//! core for one proof), never on the HTTP runtime; a full queue is refused with 503,
//! and a job that fails or is cancelled says so when polled.
#![forbid(unsafe_code)]

mod circuits;
mod error;
mod keys;
mod queue;
mod server;

pub use circuits::{CircuitBench, Statement, Zkml, bench as bench_circuit};
pub use error::{ProverError, zk_code};
pub use keys::{key_file, load_keys};
pub use queue::{
    Accepted, IncomeCircuit, InferenceCircuit, JOB_RETENTION_SECS, JobState, MAX_JOBS,
    MAX_STATEMENT_TTL_SECS, Prover, ProverAttestation, ProverParts, ReceiptLog, ZK_CIRCUIT_INCOME,
    ZK_CIRCUIT_MLP, circuit_network,
};
pub use server::router;
