//! Why a model could not be loaded or could not answer.

use veil_content::Root;

/// A failure of the LLM engine.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The bytes are not the model the caller named.
    #[error("the model's bytes hash to {actual}, not the weights root {expected}")]
    Integrity {
        /// The root asked for.
        expected: Root,
        /// The root of the bytes given.
        actual: Root,
    },
    /// The file is not a GGUF model candle can read.
    #[error("not a usable GGUF model: {0}")]
    Format(String),
    /// The file's architecture is not one this engine runs.
    #[error("unsupported model architecture `{0}` (llama and qwen2 families run)")]
    Architecture(String),
    /// The file's tokenizer cannot be built.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The file's chat template cannot be rendered for these messages.
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt and the tokens asked for do not fit the model's window.
    #[error(
        "the prompt is {prompt} tokens; with {max_new} new tokens it exceeds the model's window of {window}"
    )]
    ContextWindow {
        /// Prompt tokens.
        prompt: usize,
        /// New tokens asked for.
        max_new: usize,
        /// The window.
        window: usize,
    },
    /// Sampling parameters out of range.
    #[error("sampling: {0}")]
    Sampling(String),
    /// The model runs one generation at a time and one is running.
    #[error("the model is busy with another generation")]
    Busy,
    /// The model failed while running.
    #[error("inference: {0}")]
    Inference(String),
}

impl From<candle_core::Error> for LlmError {
    fn from(e: candle_core::Error) -> Self {
        LlmError::Inference(e.to_string())
    }
}
