//! The tokenizer a GGUF file describes (`tokenizer.ggml.*`): byte-level BPE over its
//! tokens and merges, split the way the model was trained.

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::tokenizer::TokenizerFromGguf as _;
use tokenizers::Tokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;

use crate::LlmError;

/// Control tokens that end an assistant's turn in the chat formats this engine runs.
const END_OF_TURN: [&str; 5] = ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<|end|>"];

/// A model's tokenizer, with the two ways of encoding a prompt needs.
#[derive(Clone)]
pub struct LlmTokenizer {
    /// Control tokens' text becomes the control token (for template text).
    with_control: Tokenizer,
    /// Control tokens' text stays text (for anything a user wrote).
    text_only: Tokenizer,
    stops: Vec<u32>,
}

impl std::fmt::Debug for LlmTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmTokenizer")
            .field("vocab", &self.with_control.get_vocab_size(true))
            .field("stops", &self.stops)
            .finish()
    }
}

fn tok_err(e: impl std::fmt::Display) -> LlmError {
    LlmError::Tokenizer(e.to_string())
}

impl LlmTokenizer {
    /// The tokenizer `ct`'s metadata describes. Pre-tokenizers are matched by the name
    /// llama.cpp writes (`tokenizer.ggml.pre`); an unknown one is refused, since a
    /// tokenizer that splits differently from training silently degrades every answer.
    pub fn from_gguf(ct: &Content) -> Result<Self, LlmError> {
        let mut with_control = Tokenizer::from_gguf(ct).map_err(tok_err)?;
        let pre = match ct.metadata.get("tokenizer.ggml.pre") {
            Some(v) => v.to_string().map_err(tok_err)?.as_str(),
            None => "gpt2",
        };
        // candle's own pipelines cover these; for the rest it falls back to a GPT-2
        // ByteLevel with a prefix space, which llama.cpp and the original tokenizer.json
        // files do not use (SmolLM2 would encode "user" as " user").
        match pre {
            "qwen2" | "llama3" | "smaug-bpe" | "lfm2" => {}
            "smollm" => {
                with_control.with_pre_tokenizer(Some(Sequence::new(vec![
                    Digits::new(true).into(),
                    ByteLevel::new(false, true, true).into(),
                ])));
            }
            "gpt2" | "default" => {
                with_control.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
            }
            other => return Err(LlmError::Tokenizer(format!("unknown pre-tokenizer `{other}`"))),
        }
        let mut text_only = with_control.clone();
        text_only.set_encode_special_tokens(true);
        let mut stops: Vec<u32> = END_OF_TURN.iter().filter_map(|t| with_control.token_to_id(t)).collect();
        if let Some(Value::U32(eos)) = ct.metadata.get("tokenizer.ggml.eos_token_id") {
            stops.push(*eos);
        }
        stops.sort_unstable();
        stops.dedup();
        if stops.is_empty() {
            return Err(LlmError::Tokenizer("no end-of-turn or end-of-sequence token".into()));
        }
        Ok(Self { with_control, text_only, stops })
    }

    /// Encode text a user wrote: a control token's text stays text.
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        Ok(self.text_only.encode_fast(text, false).map_err(tok_err)?.get_ids().to_vec())
    }

    /// Encode a chat template's own text, where control tokens' text is theirs.
    pub fn encode_template(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        Ok(self.with_control.encode_fast(text, false).map_err(tok_err)?.get_ids().to_vec())
    }

    /// The text of `ids`, control tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.with_control.decode(ids, true).map_err(tok_err)
    }

    /// The id of a control token, if the vocabulary has it.
    pub fn control(&self, token: &str) -> Option<u32> {
        self.with_control.token_to_id(token)
    }

    /// The tokens that end generation.
    pub fn stops(&self) -> &[u32] {
        &self.stops
    }

    /// Tokens in the vocabulary, control tokens included.
    pub fn vocab_size(&self) -> usize {
        self.with_control.get_vocab_size(true)
    }
}
