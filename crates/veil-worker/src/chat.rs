//! A chat over a token's documents, inside the enclave: retrieve, prompt, generate.
//!
//! The documents and the passages retrieved from them stay here; what leaves is the
//! completion and, for the receipt, the root of the exact context the model was given
//! (the system message Veil writes: its instructions and the rendered passages).
//! Greedy decoding is the default, so the same documents, question and weights give
//! the same answer.

use veil_content::{Root, root_of};
use veil_llm::{Decoding, Finish, Generation, LlmError, LlmModel, Message, Role, Sampling};
use veil_protocol::{ChatInput, ChatOutput, ChatRole, ChatUsage, DEFAULT_MAX_TOKENS, FinishReason};
use veil_receipt::events::LlmCompleted;
use veil_retrieve::{DocumentSet, Index, Limits};

use crate::JobError;

/// Passages in one context, at most.
pub const MAX_CONTEXT_PASSAGES: usize = 8;
/// Tokens of retrieved context, at most (fewer when the window is short).
pub const MAX_CONTEXT_TOKENS: usize = 2000;
/// Tokens kept free for the separators the template adds around the context.
const SLACK_TOKENS: usize = 16;

const INSTRUCTIONS: &str = "You answer questions about the user's private documents. \
Use only the passages below; each begins with its source in brackets. \
If the passages do not hold the answer, say that you do not know.";

/// A chat's answer with what its receipt records.
pub struct Answer {
    /// What the user gets.
    pub output: ChatOutput,
    /// Root of the system message the model was given (instructions and passages).
    pub context_root: Root,
    /// The `llm.completed` event.
    pub event: LlmCompleted,
}

/// How a language model's refusals reach the user.
pub fn llm_error(e: LlmError) -> JobError {
    match e {
        LlmError::Busy => JobError::Busy,
        e @ (LlmError::ContextWindow { .. } | LlmError::Sampling(_) | LlmError::Template(_)) => {
            JobError::BadInput(e.to_string())
        }
        e => JobError::Internal(e.to_string()),
    }
}

/// The signed input as a chat, or why it is not one.
pub fn parse(input: &serde_json::Value) -> Result<ChatInput, JobError> {
    let chat: ChatInput = serde_json::from_value(input.clone())
        .map_err(|e| JobError::BadInput(format!("a language model takes a chat input: {e}")))?;
    chat.check().map_err(JobError::BadInput)?;
    Ok(chat)
}

/// Answer `input` from the document set `documents` (the token's opened data),
/// handing each new piece of text to `on_delta` as it is generated; when `on_delta`
/// answers false (the client went away), generation stops.
pub fn answer(
    model: &LlmModel,
    name: &str,
    input: &ChatInput,
    documents: &[u8],
    on_delta: &mut dyn FnMut(&str) -> bool,
) -> Result<Answer, JobError> {
    let set = DocumentSet::decode(documents)
        .map_err(|e| JobError::BadInput(format!("the token's data is not a document set: {e}")))?;
    // Bad sampling is refused before any retrieval work.
    Decoding::new(input.temperature.unwrap_or(0.0), input.top_p.unwrap_or(1.0), input.seed.unwrap_or(0))
        .map_err(llm_error)?;
    let max_new = input.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as usize;
    let mut messages = vec![Message::new(Role::System, INSTRUCTIONS)];
    messages.extend(self::messages(input));
    let bare = model.prompt(&messages).map_err(llm_error)?.len();
    let room = model.window().saturating_sub(bare + max_new + SLACK_TOKENS);
    let limits = Limits { max_passages: MAX_CONTEXT_PASSAGES, max_tokens: room.min(MAX_CONTEXT_TOKENS) };
    let question = input.messages.last().map(|m| m.content.as_str()).unwrap_or_default();
    let tokenizer = model.tokenizer();
    let context = Index::new(&set)
        .select(question, limits, |text| tokenizer.encode_text(text).map(|ids| ids.len()))
        .map_err(llm_error)?;
    let system = if context.passages.is_empty() {
        format!("{INSTRUCTIONS}\n\n(No passage of the documents matches the question.)")
    } else {
        format!("{INSTRUCTIONS}\n\n{}", context.text.trim_end())
    };
    let context_root = root_of(system.as_bytes()).map_err(|e| JobError::Internal(e.to_string()))?;
    messages[0].content = system;
    let (output, event) = generate(model, name, input, &messages, context.passages.len(), on_delta)?;
    Ok(Answer { output, context_root, event })
}

/// A chat with no documents (the serving marketplace's): the user's messages as sent.
pub fn converse(
    model: &LlmModel,
    name: &str,
    input: &ChatInput,
    on_delta: &mut dyn FnMut(&str) -> bool,
) -> Result<(ChatOutput, LlmCompleted), JobError> {
    generate(model, name, input, &messages(input), 0, on_delta)
}

fn messages(input: &ChatInput) -> Vec<Message> {
    input
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                ChatRole::System => Role::System,
                ChatRole::User => Role::User,
                ChatRole::Assistant => Role::Assistant,
            };
            Message::new(role, m.content.clone())
        })
        .collect()
}

/// Generate the answer to `messages` under `input`'s sampling, and what its receipt
/// records.
fn generate(
    model: &LlmModel,
    name: &str,
    input: &ChatInput,
    messages: &[Message],
    context_passages: usize,
    on_delta: &mut dyn FnMut(&str) -> bool,
) -> Result<(ChatOutput, LlmCompleted), JobError> {
    let decoding =
        Decoding::new(input.temperature.unwrap_or(0.0), input.top_p.unwrap_or(1.0), input.seed.unwrap_or(0))
            .map_err(llm_error)?;
    let max_new = input.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as usize;
    let prompt = model.prompt(messages).map_err(llm_error)?;
    let sampling = Sampling { decoding, max_new_tokens: max_new, stop: input.stop.clone() };
    let mut generation = Generation::start(model, &prompt, sampling).map_err(llm_error)?;
    while let Some(piece) = generation.step().map_err(llm_error)? {
        if !piece.is_empty() && !on_delta(&piece) {
            return Err(JobError::Cancelled);
        }
    }
    let content = generation.text().to_owned();
    let usage = generation.usage();
    let finish_reason = match generation.finish() {
        Some(Finish::Length) => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    // An empty byte string has no content root: an empty answer has no hash.
    let completion_hash = match content.is_empty() {
        true => None,
        false => Some(root_of(content.as_bytes()).map_err(|e| JobError::Internal(e.to_string()))?),
    };
    let (method, temperature, top_p, seed) = match decoding {
        Decoding::Greedy => ("greedy", None, None, None),
        Decoding::TopP { temperature, top_p, seed } => ("top_p", Some(temperature), Some(top_p), Some(seed)),
    };
    let (prompt_tokens, completion_tokens) = (usage.prompt_tokens as u64, usage.completion_tokens as u64);
    let event = LlmCompleted {
        completion_hash,
        decoding: method.into(),
        temperature,
        top_p,
        seed,
        max_tokens: max_new as u64,
        stop: input.stop.clone(),
        context_passages: context_passages as u64,
        prompt_tokens,
        completion_tokens,
        finish_reason: match finish_reason {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
        .into(),
    };
    let output = ChatOutput {
        model: name.to_owned(),
        weights: *model.root(),
        content,
        finish_reason,
        usage: ChatUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        },
    };
    Ok((output, event))
}
