//! Training a model inside an attested worker on a token's sealed data, as a
//! `JobRegistry` job.
//!
//! The requester submits a job whose `dataHash` is the token's data root and whose
//! `modelHash` is the root of a [`TrainingSpec`], then signs an ordinary request (EIP-712
//! under the INFT's domain, single-use nonce) whose `model` is that spec's root and whose
//! input is a [`TrainOrder`] naming the job. The gateway refuses an order whose job the
//! chain does not show open, the signer's, over that data and spec. The worker checks
//! the signature again, has the broker release the token's key for the signer, trains,
//! seals the model to the order's recipient key and signs the receipt and the job's
//! completion (EIP-712, the named chain, registry and prover) with keys made inside.
//! Anyone may relay that completion (`completeJobFor`); it pays the named prover.

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use veil_content::Root;

use crate::fl::LrModel;
use crate::{CompletionTarget, SignedRequest};

/// The format tag of a trained model file.
pub const TRAINED_FORMAT: &str = "veil.lr-trained/1";

/// What to train: a logistic regression predicting the 0/1 column `label` from the
/// `features` columns (every other column when none are named) of the token's
/// `id,column…` table. Its root (of the JCS bytes) is the job's `modelHash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// The label column's name in the table's header.
    pub label: String,
    /// The feature columns, in the order the weights take them (empty: every column
    /// but the label, in table order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Full-batch gradient steps.
    pub epochs: u32,
    /// The step size.
    pub learning_rate: f32,
    /// The L2 penalty.
    pub l2: f32,
}

impl TrainingSpec {
    /// The root of its canonical JSON, as the job and the receipt name it.
    pub fn root(&self) -> Result<Root, String> {
        let v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let bytes = veil_jcs::to_canonical_vec(&v).map_err(|e| e.to_string())?;
        veil_content::root_of(&bytes).map_err(|e| e.to_string())
    }
}

/// The signed request's input for a training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOrder {
    /// The job's id on the registry (decimal uint256).
    pub job: String,
    /// The chain the job is on.
    pub chain_id: u64,
    /// The `JobRegistry` contract.
    pub job_registry: Address,
    /// The registered prover account the completion names (and pays).
    pub prover: Address,
    /// Whom the trained model is sealed to: a Veil public key (`veilpk1…`).
    pub recipient: String,
    /// What to train.
    pub spec: TrainingSpec,
}

impl TrainOrder {
    /// The job's id, when `job` is a canonical decimal uint256.
    pub fn job_id(&self) -> Option<U256> {
        crate::token::parse_decimal_u256(&self.job)
    }
}

/// What the gateway asks a worker to do for a training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainJob {
    /// The requester's signed request (its input is a [`TrainOrder`]).
    pub request: SignedRequest,
    /// The token's data root as the gateway read it (the worker trains on the one the
    /// broker read at its recorded block).
    pub data_root: Root,
}

/// A trained model as its requester opens it. Its root (of the JCS bytes) is the job's
/// result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainedModel {
    /// [`TRAINED_FORMAT`].
    pub format: String,
    /// The feature columns, in the order the weights take them.
    pub features: Vec<String>,
    /// The label column.
    pub label: String,
    /// Per feature: the value scaled to 0 (the training data's minimum).
    pub feature_min: Vec<f32>,
    /// Per feature: the value scaled to 1 (the training data's maximum).
    pub feature_max: Vec<f32>,
    /// The weights over scaled features, and the bias.
    pub model: LrModel,
}

/// What a training job answers (its JCS root is the receipt's `output_hash`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOutput {
    /// The job (decimal uint256).
    pub job: String,
    /// What was trained on and made, as the receipt's `train.completed` event says.
    pub trained: veil_receipt::events::TrainCompleted,
    /// Share of the training rows the model classifies right.
    pub train_accuracy: f64,
}

/// An enclave's signature completing a job with a result (no proof).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveCompletion {
    /// What was signed for.
    pub target: CompletionTarget,
    /// The result hash.
    pub result: B256,
    /// The signing key (secp256k1 address), bound in the worker's evidence.
    pub enclave_key: Address,
    /// 65-byte signature over [`CompletionTarget::digest`] of `result` (no proof).
    pub signature: Bytes,
}

/// A worker's answer to a training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainResponse {
    /// What was trained.
    pub output: TrainOutput,
    /// The signed `train` receipt.
    pub receipt: veil_receipt::SignedReceipt,
    /// The model sealed to the recipient (veil-seal format), standard base64.
    pub sealed_model: String,
    /// The job's completion, for anyone to relay.
    pub completion: EnclaveCompletion,
}

/// A root as the chain holds it.
pub fn root_word(root: &Root) -> B256 {
    B256::from(root.0)
}
