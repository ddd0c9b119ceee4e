//! A GGUF model, verified against its root before it is read.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use veil_content::Root;

use crate::chat::{ChatTemplate, Message};
use crate::{LlmError, LlmTokenizer};

/// The model families this engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Llama and its kin (SmolLM2, Mistral-shaped GGUFs).
    Llama,
    /// Qwen2 and Qwen2.5.
    Qwen2,
}

/// Where a qwen2 model's weights wait between generations.
type Qwen2Slot = Arc<Mutex<Option<quantized_qwen2::ModelWeights>>>;

/// The weights of one family, as a model holds them.
#[derive(Clone)]
enum Shared {
    /// candle's llama weights clone cheaply (the quantized tensors are shared), so every
    /// generation gets its own KV cache.
    Llama(Box<quantized_llama::ModelWeights>),
    /// candle's qwen2 weights do not clone: one generation at a time takes them out of
    /// the slot and puts them back when it ends.
    Qwen2(Qwen2Slot),
}

/// The weights one generation runs on.
pub(crate) enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2 { weights: Option<quantized_qwen2::ModelWeights>, slot: Qwen2Slot },
}

impl Drop for Weights {
    fn drop(&mut self) {
        if let Weights::Qwen2 { weights, slot } = self
            && let Ok(mut s) = slot.lock()
        {
            *s = weights.take();
        }
    }
}

impl Weights {
    /// Logits for the position after `tokens`, which start at `pos` (0 resets the cache).
    pub(crate) fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Tensor, LlmError> {
        let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        let logits = match self {
            Weights::Llama(w) => w.forward(&input, pos)?,
            Weights::Qwen2 { weights: Some(w), .. } => w.forward(&input, pos)?,
            Weights::Qwen2 { weights: None, .. } => {
                return Err(LlmError::Inference("weights returned".into()));
            }
        };
        Ok(logits.squeeze(0)?.to_dtype(candle_core::DType::F32)?)
    }
}

/// A loaded model whose bytes matched their root.
#[derive(Clone)]
pub struct LlmModel {
    root: Root,
    arch: Arch,
    name: String,
    window: usize,
    weights: Shared,
    pub(crate) tokenizer: Arc<LlmTokenizer>,
    template: ChatTemplate,
}

impl std::fmt::Debug for LlmModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmModel")
            .field("root", &self.root)
            .field("arch", &self.arch)
            .field("name", &self.name)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

fn fmt_err(e: impl std::fmt::Display) -> LlmError {
    LlmError::Format(e.to_string())
}

/// An unsigned integer in the metadata, whatever width the writer chose.
fn meta_uint(ct: &Content, key: &str) -> Result<Option<u64>, LlmError> {
    Ok(match ct.metadata.get(key) {
        None => None,
        Some(Value::U32(v)) => Some(u64::from(*v)),
        Some(Value::U64(v)) => Some(*v),
        Some(Value::I32(v)) => u64::try_from(*v).ok(),
        Some(Value::I64(v)) => u64::try_from(*v).ok(),
        Some(other) => return Err(LlmError::Format(format!("{key} is not an integer: {other:?}"))),
    })
}

fn meta_str<'a>(ct: &'a Content, key: &str) -> Result<Option<&'a str>, LlmError> {
    ct.metadata.get(key).map(|v| v.to_string().map(String::as_str).map_err(fmt_err)).transpose()
}

/// The text of token `key`'s id (BOS, EOS), for templates that print it.
fn token_text(ct: &Content, key: &str) -> Result<String, LlmError> {
    let (Some(id), Some(Value::Array(tokens))) =
        (meta_uint(ct, key)?, ct.metadata.get("tokenizer.ggml.tokens"))
    else {
        return Ok(String::new());
    };
    let token = usize::try_from(id).ok().and_then(|i| tokens.get(i));
    Ok(token.and_then(|t| t.to_string().ok()).cloned().unwrap_or_default())
}

impl LlmModel {
    /// Load `bytes`, refusing them unless they hash to `expected` (the weights root the
    /// caller asked for). Only then is the file parsed.
    pub fn load(bytes: &[u8], expected: &Root) -> Result<Self, LlmError> {
        let actual = veil_content::root_of(bytes).map_err(fmt_err)?;
        if &actual != expected {
            return Err(LlmError::Integrity { expected: *expected, actual });
        }
        // candle's GGUF reader bounds its allocations by the file's size, but some
        // header values still reach arithmetic that panics (an alignment of 0 divides by
        // zero): a malformed file is a format error, never a crashed worker.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::parse(bytes, expected)))
            .unwrap_or_else(|_| Err(LlmError::Format("the GGUF reader failed on this file's header".into())))
    }

    /// Parse bytes whose root was checked.
    fn parse(bytes: &[u8], expected: &Root) -> Result<Self, LlmError> {
        let mut reader = Cursor::new(bytes);
        let ct = Content::read(&mut reader).map_err(fmt_err)?;
        let arch_name = meta_str(&ct, "general.architecture")?.unwrap_or_default().to_owned();
        let arch = match arch_name.as_str() {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            _ => return Err(LlmError::Architecture(arch_name)),
        };
        let trained = meta_uint(&ct, &format!("{arch_name}.context_length"))?
            .ok_or_else(|| LlmError::Format(format!("no {arch_name}.context_length")))?;
        // candle's llama precomputes rotary tables for MAX_SEQ_LEN positions; qwen2's
        // for the trained length.
        let window = match arch {
            Arch::Llama => usize::try_from(trained).unwrap_or(usize::MAX).min(quantized_llama::MAX_SEQ_LEN),
            Arch::Qwen2 => usize::try_from(trained).unwrap_or(usize::MAX),
        };
        let name = meta_str(&ct, "general.name")?.unwrap_or_default().to_owned();
        let tokenizer = LlmTokenizer::from_gguf(&ct)?;
        let source = meta_str(&ct, "tokenizer.chat_template")?
            .ok_or_else(|| LlmError::Template("the file has no tokenizer.chat_template".into()))?;
        let template = ChatTemplate::new(
            source.to_owned(),
            token_text(&ct, "tokenizer.ggml.bos_token_id")?,
            token_text(&ct, "tokenizer.ggml.eos_token_id")?,
        )?;
        let weights = match arch {
            Arch::Llama => Shared::Llama(Box::new(
                quantized_llama::ModelWeights::from_gguf(ct, &mut reader, &Device::Cpu).map_err(fmt_err)?,
            )),
            Arch::Qwen2 => Shared::Qwen2(Arc::new(Mutex::new(Some(
                quantized_qwen2::ModelWeights::from_gguf(ct, &mut reader, &Device::Cpu).map_err(fmt_err)?,
            )))),
        };
        Ok(Self { root: *expected, arch, name, window, weights, tokenizer: Arc::new(tokenizer), template })
    }

    /// Weights for one generation, or `Busy` when the model runs one at a time and one
    /// is running.
    pub(crate) fn weights(&self) -> Result<Weights, LlmError> {
        match &self.weights {
            Shared::Llama(w) => Ok(Weights::Llama(w.as_ref().clone())),
            Shared::Qwen2(slot) => {
                let taken =
                    slot.lock().map_err(|_| LlmError::Inference("a generation panicked".into()))?.take();
                match taken {
                    Some(w) => Ok(Weights::Qwen2 { weights: Some(w), slot: slot.clone() }),
                    None => Err(LlmError::Busy),
                }
            }
        }
    }

    /// The weights root the bytes matched.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The model's family.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The name the file gives itself (`general.name`; may be empty).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Prompt plus completion tokens the model can attend to.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &LlmTokenizer {
        &self.tokenizer
    }

    /// The prompt for `messages`, through the model's chat template, ending where the
    /// assistant's answer begins.
    pub fn prompt(&self, messages: &[Message]) -> Result<Vec<u32>, LlmError> {
        self.template.prompt(&self.tokenizer, messages)
    }
}
