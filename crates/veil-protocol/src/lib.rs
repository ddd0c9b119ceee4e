//! Everything that crosses a process boundary in Veil, and nothing that moves it.
//!
//! The signed inference request and its EIP-712 types, the access grant a stock
//! client carries as its API key, the jobs a gateway hands a
//! worker and their answers (predictions, or a chat's completion), the key-broker exchange, token ids (one parser), the
//! stable error codes and the RFC 9457 problem documents every service refuses
//! with, and the `id,feature…` table a token's data is. No I/O, no HTTP framework,
//! no async runtime: the fuzzers reach all of it, and every service and client
//! speaks through these types.
#![forbid(unsafe_code)]

mod access;
mod chat;
mod code;
pub mod fl;
mod job;
pub mod kms;
pub mod market;
mod ml;
mod problem;
mod registry;
mod request;
pub mod secagg;
mod table;
mod tlog;
mod token;
pub mod train;

pub use access::{
    API_KEY_PREFIX, AccessGrant, GrantTerms, MAX_API_KEY_CHARS, MAX_GRANT_SECS, SignedAccessGrant,
};
pub use chat::{
    ChatInput, ChatMessage, ChatOutput, ChatRole, ChatUsage, DEFAULT_MAX_TOKENS, FinishReason,
    MAX_CHAT_CHARS, MAX_CHAT_MESSAGES,
};
pub use code::ErrorCode;
pub use job::{
    AttestationResponse, ChatEvent, FheOutput, InferenceOutput, JobOutput, JobRequest, JobResponse,
    Prediction, WorkerHealth,
};
pub use ml::{MlInferenceRequest, MlJob, MlJobState, Privacy};
pub use problem::{PROBLEM_JSON, Problem};
pub use registry::{
    Attestation, Completion, CompletionTarget, JOB_REGISTRY_EIP712_NAME, PROVER_REGISTRY_EIP712_NAME,
    SignedAttestation, SignedCompletion, StatementRequest, proof_hash, prover_registry_domain,
};
pub use request::*;
pub use table::{Table, TableError};
pub use tlog::{
    ConsistencyProof, Inclusion, InclusionProof, LogEntry, LogHash, MAX_ENTRY_BYTES, MAX_PROOF_HASHES,
};
pub use token::{TokenId, TokenIdError};
