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
    /// A chat over a token's documents for the bearer of the user's access grant
    /// (OpenAI, Ollama and the plain `/infer` route).
    Chat {
        /// The user's grant (the API key the client sent), untouched.
        grant: crate::SignedAccessGrant,
        /// The model's weights root (the grant names it too; the worker checks both).
        model: Root,
        /// The conversation and sampling.
        input: crate::ChatInput,
        /// The token's data root as the gateway read it (the worker uses the one the
        /// broker read at its recorded block).
        data_root: Root,
        /// Answer as a stream of [`ChatEvent`]s (NDJSON) rather than one response.
        #[serde(default)]
        stream: bool,
    },
    /// Inference on rows the caller supplies (public models, KServe v2).
    Direct {
        /// The model's weights root.
        model: Root,
        /// Feature rows.
        rows: Vec<Vec<f32>>,
    },
    /// A paid chat for the bearer of a serving-marketplace API key (no token data).
    Market(Box<crate::market::MarketChat>),
    /// Evaluation of an int8 model on rows encrypted under the caller's FHE key: the
    /// worker sees ciphertexts only.
    Fhe {
        /// The int8 model's root.
        model: Root,
        /// The query (`veil-fhe`'s versioned binary format), standard base64.
        query: String,
    },
}

/// What inference answers: one prediction per row, never the rows. The fields are in
/// the order the untyped answer wrote them, so the JSON is the same bytes (receipts
/// hash the JCS form, which does not depend on it; clients that kept answers do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceOutput {
    /// The model's registry name.
    pub model: String,
    /// The model's weights root.
    pub weights: Root,
    /// One per requested row, in request order.
    pub predictions: Vec<Prediction>,
}

/// One row's prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The class's label.
    pub label: String,
    /// The class index (the first maximum of `probabilities`).
    pub class: usize,
    /// Per-class probabilities, rounded to six decimals (the same on every platform).
    pub probabilities: Vec<f64>,
    /// The row's id in the token's data (absent for rows the caller sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What a job produced: a classic model's predictions, or a language model's
/// completion. Untagged, so a prediction answer is the same JSON it always was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobOutput {
    /// Predictions, one per row.
    Predictions(InferenceOutput),
    /// A chat completion.
    Chat(crate::ChatOutput),
    /// An FHE answer, which only the query's key decrypts.
    Fhe(FheOutput),
}

/// What an FHE evaluation answers: ciphertexts, and what they are of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FheOutput {
    /// The model's registry name.
    pub model: String,
    /// The model's root.
    pub weights: Root,
    /// SHA-256 of the parameter set, hex (as the query's header states it).
    pub params: String,
    /// Rows evaluated.
    pub rows: usize,
    /// The answer (`veil-fhe`'s binary format), standard base64.
    pub answer: String,
}

impl JobOutput {
    /// The predictions, when this is a classic model's answer.
    pub fn predictions(&self) -> Option<&InferenceOutput> {
        match self {
            Self::Predictions(p) => Some(p),
            Self::Chat(_) | Self::Fhe(_) => None,
        }
    }

    /// The completion, when this is a chat's answer.
    pub fn chat(&self) -> Option<&crate::ChatOutput> {
        match self {
            Self::Chat(c) => Some(c),
            Self::Predictions(_) | Self::Fhe(_) => None,
        }
    }

    /// The encrypted answer, when this is an FHE evaluation's.
    pub fn fhe(&self) -> Option<&FheOutput> {
        match self {
            Self::Fhe(f) => Some(f),
            Self::Predictions(_) | Self::Chat(_) => None,
        }
    }
}

/// A worker's answer: the output and the receipt that vouches for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResponse {
    /// The output (its JCS bytes hash to the receipt's `output_hash`).
    pub output: JobOutput,
    /// The signed receipt.
    pub receipt: veil_receipt::SignedReceipt,
}

/// One line of a streamed chat (NDJSON, from worker to gateway): text as it is
/// generated, then exactly one of the answer with its receipt or a refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatEvent {
    /// Newly generated text (whole UTF-8 characters).
    Delta(String),
    /// The whole answer and its receipt; the deltas concatenate to its content.
    Done(Box<JobResponse>),
    /// Generation stopped: no receipt follows.
    Error(Problem),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The typed answer is the same JSON, byte for byte, as the `json!` one it
    /// replaced, so answers and their receipts' output hashes did not change.
    #[test]
    fn the_typed_output_writes_the_legacy_bytes() {
        let weights = Root([3; 32]);
        let typed = InferenceOutput {
            model: "m".into(),
            weights,
            predictions: vec![
                Prediction {
                    label: "benign".into(),
                    class: 1,
                    probabilities: vec![0.000123, 0.999877],
                    id: Some("P0001".into()),
                },
                Prediction { label: "malignant".into(), class: 0, probabilities: vec![1.0, 0.0], id: None },
            ],
        };
        let mut first = json!({"label": "benign", "class": 1, "probabilities": [0.000123, 0.999877]});
        first["id"] = json!("P0001");
        let legacy = json!({
            "model": "m", "weights": weights,
            "predictions": [first, {"label": "malignant", "class": 0, "probabilities": [1.0, 0.0]}],
        });
        assert_eq!(serde_json::to_string(&typed).unwrap(), serde_json::to_string(&legacy).unwrap());
        let back: InferenceOutput = serde_json::from_value(legacy).unwrap();
        assert_eq!(back, typed);
    }
}
