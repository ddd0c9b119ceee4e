//! A chat over a token's private documents: what the user signs as the request's
//! `input`, and what the worker answers.
//!
//! The signed input is the whole prompt the user controls (messages and sampling);
//! the worker adds the passages it retrieved from the token's documents as a system
//! message of its own, inside the enclave, and only the completion leaves.

use serde::{Deserialize, Serialize};
use veil_content::Root;

/// Messages in one request, at most.
pub const MAX_CHAT_MESSAGES: usize = 64;
/// Characters of all messages together, at most (the window is the real limit; this
/// bounds the work of finding out).
pub const MAX_CHAT_CHARS: usize = 256 * 1024;
/// New tokens when the request names no limit.
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// Who speaks in a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The person asking.
    User,
    /// The model (earlier turns).
    Assistant,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    /// Who speaks.
    pub role: ChatRole,
    /// What they say.
    pub content: String,
}

/// The `input` of a signed chat request (OpenAI's names and meanings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatInput {
    /// The conversation; the last message is the user's question.
    pub messages: Vec<ChatMessage>,
    /// New tokens at most (default [`DEFAULT_MAX_TOKENS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature in [0, 2]; 0 (the default) decodes greedily.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus mass in (0, 1] (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The sampler's seed (default 0; unused when greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Up to four strings that end the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

impl ChatInput {
    /// One user question, with default sampling (greedy) and at most `max_tokens`
    /// new tokens (the default when `None`).
    pub fn question(text: impl Into<String>, max_tokens: Option<u32>) -> Self {
        Self {
            messages: vec![ChatMessage { role: ChatRole::User, content: text.into() }],
            max_tokens,
            temperature: None,
            top_p: None,
            seed: None,
            stop: Vec::new(),
        }
    }

    /// Why this input cannot be a chat, if it cannot: no messages, too many or too
    /// long, or a last message that is not the user's.
    pub fn check(&self) -> Result<(), String> {
        let chars: usize = self.messages.iter().map(|m| m.content.chars().count()).sum();
        match self.messages.last() {
            None => Err("a chat needs at least one message".into()),
            Some(_) if self.messages.len() > MAX_CHAT_MESSAGES => {
                Err(format!("at most {MAX_CHAT_MESSAGES} messages, not {}", self.messages.len()))
            }
            Some(_) if chars > MAX_CHAT_CHARS => {
                Err(format!("the messages hold {chars} characters; at most {MAX_CHAT_CHARS}"))
            }
            Some(m) if m.role != ChatRole::User => Err("the last message must be the user's".into()),
            Some(_) if self.max_tokens == Some(0) => Err("max_tokens must be at least 1".into()),
            Some(_) => Ok(()),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// The model ended its turn, or a stop string came.
    Stop,
    /// `max_tokens` ran out.
    Length,
}

/// Tokens counted as OpenAI's `usage` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatUsage {
    /// The prompt, retrieved passages included.
    pub prompt_tokens: u64,
    /// The completion.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
}

/// A chat's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatOutput {
    /// The model's registry name.
    pub model: String,
    /// The model's weights root.
    pub weights: Root,
    /// The completion. The receipt's `llm.completed` event holds the root of its
    /// UTF-8 bytes, so whoever received it can check it is what the worker generated.
    pub content: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Token counts.
    pub usage: ChatUsage,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{InferenceOutput, JobOutput};

    #[test]
    fn answers_of_both_kinds_round_trip_and_predictions_keep_their_bytes() {
        let chat = JobOutput::Chat(ChatOutput {
            model: "smollm2".into(),
            weights: Root([7; 32]),
            content: "Two minutes.".into(),
            finish_reason: FinishReason::Stop,
            usage: ChatUsage { prompt_tokens: 90, completion_tokens: 4, total_tokens: 94 },
        });
        let text = serde_json::to_string(&chat).unwrap();
        assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
        assert_eq!(serde_json::from_str::<JobOutput>(&text).unwrap(), chat);
        let preds = InferenceOutput { model: "m".into(), weights: Root([1; 32]), predictions: vec![] };
        let wrapped = JobOutput::Predictions(preds.clone());
        assert_eq!(serde_json::to_string(&wrapped).unwrap(), serde_json::to_string(&preds).unwrap());
        let back: JobOutput = serde_json::from_str(&serde_json::to_string(&preds).unwrap()).unwrap();
        assert_eq!(back.predictions(), Some(&preds));
        assert!(back.chat().is_none());
    }

    #[test]
    fn a_chat_input_is_checked_before_any_work() {
        let input = |v: serde_json::Value| serde_json::from_value::<ChatInput>(v).unwrap().check();
        assert!(input(json!({"messages": [{"role": "user", "content": "hi"}]})).is_ok());
        assert!(input(json!({"messages": []})).unwrap_err().contains("at least one"));
        let last_assistant =
            json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]});
        assert!(input(last_assistant).unwrap_err().contains("user's"));
        assert!(input(json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0})).is_err());
        let many: Vec<_> = (0..=MAX_CHAT_MESSAGES).map(|_| json!({"role": "user", "content": "x"})).collect();
        assert!(input(json!({ "messages": many })).unwrap_err().contains("at most"));
        let long = "x".repeat(MAX_CHAT_CHARS + 1);
        assert!(input(json!({"messages": [{"role": "user", "content": long}]})).is_err());
        // Unknown fields and roles are refused when parsed, not ignored.
        assert!(serde_json::from_value::<ChatInput>(json!({"messages": [], "n": 2})).is_err());
        assert!(
            serde_json::from_value::<ChatInput>(json!({"messages": [{"role": "tool", "content": ""}]}))
                .is_err()
        );
    }
}
