//! Large language models addressed by weights root.
//!
//! A model is a GGUF file (llama or qwen2 family) named by its 0G root.
//! [`LlmModel::load`] hashes the bytes and refuses them unless they match the root the
//! caller asked for, so an unverified model cannot exist; only then does candle read
//! them. Everything else a model needs comes from the file itself: the tokenizer from
//! its `tokenizer.ggml.*` metadata, the prompt format from its `tokenizer.chat_template`.
//!
//! Prompts are built at the token level ([`chat`]): the template's own text may hold
//! control tokens (`<|im_start|>`), a message's content never does, so a user who types
//! a control token's text gets that text, not a new turn.
//!
//! [`Generation`] decodes greedily or by seeded nucleus sampling; the same weights,
//! prompt and [`Decoding`] give the same tokens on the same machine.
#![forbid(unsafe_code)]

pub mod chat;
mod error;
mod generate;
mod model;
mod quantize;
mod tokenizer;

pub use chat::{Message, Role};
pub use error::LlmError;
pub use generate::{Decoding, Finish, Generation, Sampling, Usage};
pub use model::{Arch, LlmModel};
pub use quantize::{Quantized, requantize_q8_0};
pub use tokenizer::LlmTokenizer;
