//! What the gateway asks a worker to do, and what a worker answers.

use serde::{Deserialize, Serialize};
use veil_content::Root;

use crate::{Problem, SignedRequest};

/// What the gateway asks a worker to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobRequest {
    /// Inference over a token's sealed data, for the user who signed.
    Token {
        /// The user's signed request.
        request: SignedRequest,
        /// The sealed data's root, as the token records it on chain.
        data_root: Root,
    },
    /// Inference on rows the caller supplies (public models, KServe v2).
    Direct {
        /// The model's weights root.
        model: Root,
        /// Feature rows.
        rows: Vec<Vec<f32>>,
    },
}

/// A worker's answer: the output and the receipt that vouches for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResponse {
    /// The output (its JCS bytes hash to the receipt's `output_hash`).
    pub output: serde_json::Value,
    /// The signed receipt.
    pub receipt: veil_receipt::SignedReceipt,
}

/// Fresh evidence from a worker, binding its keys and the caller's nonce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttestationResponse {
    /// The evidence (its runtime data holds the nonce and the worker's keys).
    pub evidence: veil_evidence::Evidence,
    /// The measurement the worker expects to be verified (hex).
    pub measurement: String,
}

/// A worker's state, for the gateway's health and routing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerHealth {
    /// `ready`, or `attestation_refused` when the broker refused this worker.
    pub status: String,
    /// The broker's code and detail when refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Problem>,
    /// The worker's measurement (hex).
    pub measurement: String,
    /// Jobs running now.
    pub running: usize,
}
