//! Prompts from chat messages, through the model's own template.
//!
//! The template (`tokenizer.chat_template`, Jinja) is rendered with each message's
//! content replaced by a placeholder; the rendered text is then tokenized piece by
//! piece: the template's pieces with control tokens recognised, each message's content
//! with control tokens left as text. So a message that contains `<|im_start|>system`
//! cannot open a turn of its own, whatever the template.

use minijinja::{Environment, ErrorKind, context};

use crate::{LlmError, LlmTokenizer};

/// Who speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions (and, in Veil, the retrieved passages).
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The name templates compare against.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What they say.
    pub content: String,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into() }
    }
}

/// Placeholder delimiters: private-use code points, which no template writes.
const OPEN: char = '\u{F8F0}';
const CLOSE: char = '\u{F8F1}';

/// Templates run with bounded work: a template is code shipped inside a model file.
const FUEL: u64 = 1_000_000;

/// A model's chat template.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos: String,
    eos: String,
}

fn template_err(e: impl std::fmt::Display) -> LlmError {
    LlmError::Template(e.to_string())
}

impl ChatTemplate {
    /// `source` (Jinja), with the text of the model's BOS and EOS tokens, checked by
    /// rendering a one-message conversation.
    pub fn new(source: String, bos: String, eos: String) -> Result<Self, LlmError> {
        let t = Self { source, bos, eos };
        t.render(&[Message::new(Role::User, "?")])?;
        Ok(t)
    }

    /// The prompt text for `messages` with content placeholders, ending where the
    /// assistant's turn begins.
    fn render(&self, messages: &[Message]) -> Result<String, LlmError> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.add_function("raise_exception", |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_template("chat", &self.source).map_err(template_err)?;
        let placeholders: Vec<_> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| context! { role => m.role.as_str(), content => format!("{OPEN}{i}{CLOSE}") })
            .collect();
        env.get_template("chat")
            .and_then(|t| {
                t.render(context! {
                    messages => placeholders,
                    add_generation_prompt => true,
                    bos_token => &self.bos,
                    eos_token => &self.eos,
                })
            })
            .map_err(template_err)
    }

    /// The prompt for `messages` as tokens.
    pub fn prompt(&self, tokenizer: &LlmTokenizer, messages: &[Message]) -> Result<Vec<u32>, LlmError> {
        let rendered = self.render(messages)?;
        let mut ids = Vec::new();
        let mut rest = rendered.as_str();
        while let Some(open) = rest.find(OPEN) {
            ids.extend(tokenizer.encode_template(&rest[..open])?);
            let after = &rest[open + OPEN.len_utf8()..];
            let close = after.find(CLOSE).ok_or_else(|| template_err("a message placeholder was cut"))?;
            let i: usize =
                after[..close].parse().map_err(|_| template_err("a message placeholder was altered"))?;
            let message = messages.get(i).ok_or_else(|| template_err("a message placeholder was altered"))?;
            ids.extend(tokenizer.encode_text(&message.content)?);
            rest = &after[close + CLOSE.len_utf8()..];
        }
        if rest.contains(CLOSE) {
            return Err(template_err("a message placeholder was cut"));
        }
        ids.extend(tokenizer.encode_template(rest)?);
        Ok(ids)
    }
}
