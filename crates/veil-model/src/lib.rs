//! Veil's models: ONNX graphs run through tract (pure Rust), addressed by the 0G root
//! of the model file and verified against it before they load, plus the int8 path
//! (quant.rs) whose integer arithmetic is specified exactly, so that the ZK witness
//! generator can reproduce it bit for bit.
#![forbid(unsafe_code)]

mod dataset;
mod engine;
mod quant;
mod registry;

pub use dataset::{Dataset, TokenRecords};
pub use engine::{OnnxModel, Outputs};
pub use quant::{QLayer, QuantizedNet, Requant, class_of, dense_layers, quantize_value};
pub use registry::{
    MAX_LLM_BYTES, MAX_MODEL_BYTES, ModelFormat, ModelMeta, ModelRegistry, RegisteredModel, SEALING_OVERHEAD,
    Seal,
};

/// Why a model could not be loaded, registered or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The bytes are not the model the root names.
    #[error("model bytes hash to {actual}, not {expected}")]
    Integrity {
        /// The root asked for.
        expected: veil_content::Root,
        /// What the bytes hash to.
        actual: veil_content::Root,
    },
    /// tract could not load or run the graph.
    #[error("onnx: {0}")]
    Onnx(String),
    /// The input does not fit the model.
    #[error("bad input: {0}")]
    Input(String),
    /// The graph is not a chain of dense layers the int8 path supports.
    #[error("not quantisable: {0}")]
    Unsupported(String),
    /// No model by that name or root.
    #[error("unknown model {0}")]
    Unknown(String),
    /// The store or the index failed.
    #[error("model registry: {0}")]
    Registry(String),
}
