//! The private-ML API (`/v1/ml/…`): one way to ask for inference at any privacy
//! level, and the job that answers it.

use serde::{Deserialize, Serialize};
use veil_content::Root;

use crate::{JobResponse, Problem};

/// How private an inference is, and what vouches for its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Plaintext rows, run in an attested enclave.
    Tee,
    /// A zero-knowledge proof of the inference (the proof server).
    Zk,
    /// Rows encrypted under the client's key; the server sees ciphertexts only.
    Fhe,
    /// FHE evaluated inside an attested enclave: the receipt also proves which
    /// model ran, and the model's weights stay in the enclave.
    Hybrid,
}

impl Privacy {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tee => "tee",
            Self::Zk => "zk",
            Self::Fhe => "fhe",
            Self::Hybrid => "hybrid",
        }
    }
}

impl std::fmt::Display for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/ml/models/{id}/inference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlInferenceRequest {
    /// The privacy level.
    pub privacy: Privacy,
    /// Plaintext feature rows (`tee`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Vec<f32>>>,
    /// An FHE query, standard base64 (`fhe`, `hybrid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// Where a private-ML job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MlJobState {
    /// Accepted, waiting for or running on a worker.
    Running,
    /// Answered: `result` holds the output and its receipt.
    Done,
    /// Refused or failed: `error` says why.
    Failed,
}

/// A private-ML job, as `POST …/inference` accepts it and `GET /v1/ml/jobs/{id}`
/// reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlJob {
    /// The job's id (`ml_` and 32 hex digits).
    pub id: String,
    /// The model's registry name.
    pub model: String,
    /// The model's root.
    pub model_root: Root,
    /// The privacy level.
    pub privacy: Privacy,
    /// Where it is.
    pub state: MlJobState,
    /// When it was accepted (Unix seconds).
    pub created_at: u64,
    /// The expected time from acceptance to answer, from the jobs this gateway ran
    /// recently for the same model and privacy level.
    pub estimated_completion_ms: u64,
    /// The output and its receipt, when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResponse>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}
