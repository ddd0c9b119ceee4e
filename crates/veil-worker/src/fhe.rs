//! FHE jobs: an int8 model evaluated on rows encrypted under the caller's key.
//!
//! The worker holds the model (loaded by root, part of its measured configuration)
//! and sees ciphertexts only; the answer is ciphertexts only the caller can decrypt.
//! Because the evaluation runs in the attested worker, its receipt proves which model
//! ran on which ciphertexts (the `hybrid` privacy level) — the receipt's `input_hash`
//! is the root of the query's bytes and its `fhe.evaluated` event names the answer's,
//! so a client checks both against what it sent and received.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_content::{Root, root_of};
use veil_fhe::{FheError, FheLinear, LinearLayer, ParamSet, Query};
use veil_model::QuantizedNet;

use crate::JobError;

/// A loaded int8 model, ready to evaluate encrypted rows.
pub(crate) struct FheEngine {
    pub(crate) set: ParamSet,
    pub(crate) linear: FheLinear,
}

impl FheEngine {
    /// The evaluator for `file` (a `veil.int8/1` network) under the standard parameter set.
    pub(crate) fn load(file: &[u8]) -> Result<Self, String> {
        let net = QuantizedNet::from_file(file).map_err(|e| e.to_string())?;
        let set = ParamSet::standard().map_err(|e| e.to_string())?;
        let linear = evaluator(&net, &set).map_err(|e| e.to_string())?;
        Ok(Self { set, linear })
    }
}

/// The FHE evaluator of a one-layer (linear) int8 network under `set`: refused when
/// the network has hidden layers, or when `set` could not evaluate it exactly.
pub fn evaluator(net: &QuantizedNet, set: &ParamSet) -> Result<FheLinear, FheError> {
    let layer = match net.layers.as_slice() {
        [l] if !l.relu => l,
        layers => {
            return Err(FheError::Shape(format!(
                "the network has {} layers and FHE evaluates linear models so far",
                layers.len()
            )));
        }
    };
    FheLinear::new(
        set,
        &LinearLayer {
            inputs: layer.inputs,
            outputs: layer.outputs,
            weights: layer.weights.clone(),
            bias: layer.bias.clone(),
        },
    )
}

/// An evaluated query: what the receipt and the answer state.
pub(crate) struct Evaluated {
    pub(crate) query_hash: Root,
    pub(crate) answer_hash: Root,
    pub(crate) answer: String,
    pub(crate) rows: usize,
}

/// Decode `query` (standard base64 of the binary query), evaluate it, and encode the
/// answer. CPU-bound: call it off the async runtime.
pub(crate) fn evaluate(engine: &FheEngine, query: &str) -> Result<Evaluated, JobError> {
    let bytes = B64
        .decode(query)
        .map_err(|_| JobError::BadCiphertext(FheError::Format("the query is not standard base64".into())))?;
    let query_hash =
        root_of(&bytes).map_err(|_| JobError::BadCiphertext(FheError::Format("an empty query".into())))?;
    let q = Query::from_bytes(&engine.set, &bytes).map_err(JobError::from)?;
    let answer = engine.linear.evaluate(&q).map_err(JobError::from)?.to_bytes();
    let answer_hash = root_of(&answer).map_err(|e| JobError::Internal(e.to_string()))?;
    Ok(Evaluated { query_hash, answer_hash, answer: B64.encode(&answer), rows: q.rows() })
}

impl From<FheError> for JobError {
    fn from(e: FheError) -> Self {
        match e {
            FheError::TooLarge(_) => Self::CiphertextTooLarge(e),
            FheError::Budget(_) | FheError::Fhe(_) => Self::Internal(e.to_string()),
            FheError::Format(_)
            | FheError::Version(_)
            | FheError::Kind { .. }
            | FheError::Params { .. }
            | FheError::Shape(_)
            | FheError::Input(_) => Self::BadCiphertext(e),
        }
    }
}
