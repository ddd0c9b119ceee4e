//! Generation: a prompt's prefill, then one token at a time until an end-of-turn
//! token, a stop string or the token budget.

use std::sync::Arc;

use candle_transformers::generation::{LogitsProcessor, Sampling as CandleSampling};

use crate::model::Weights;
use crate::{LlmError, LlmModel, LlmTokenizer};

/// How the next token is chosen; receipts record it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Decoding {
    /// The most likely token, every time: reproducible without a seed.
    Greedy,
    /// Nucleus sampling: the smallest set of tokens whose probability reaches `top_p`,
    /// at `temperature`, drawn by a generator seeded with `seed`.
    TopP {
        /// Softmax temperature, in (0, 2].
        temperature: f64,
        /// Probability mass kept, in (0, 1].
        top_p: f64,
        /// The generator's seed.
        seed: u64,
    },
}

impl Decoding {
    /// OpenAI-style parameters: temperature 0 means greedy.
    pub fn new(temperature: f64, top_p: f64, seed: u64) -> Result<Self, LlmError> {
        if !(0.0..=2.0).contains(&temperature) {
            return Err(LlmError::Sampling(format!("temperature {temperature} is outside [0, 2]")));
        }
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(LlmError::Sampling(format!("top_p {top_p} is outside (0, 1]")));
        }
        Ok(if temperature == 0.0 { Decoding::Greedy } else { Decoding::TopP { temperature, top_p, seed } })
    }

    fn processor(self) -> LogitsProcessor {
        match self {
            Decoding::Greedy => LogitsProcessor::from_sampling(0, CandleSampling::ArgMax),
            Decoding::TopP { temperature, top_p, seed } if top_p >= 1.0 => {
                LogitsProcessor::from_sampling(seed, CandleSampling::All { temperature })
            }
            Decoding::TopP { temperature, top_p, seed } => {
                LogitsProcessor::from_sampling(seed, CandleSampling::TopP { p: top_p, temperature })
            }
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// The decoding rule.
    pub decoding: Decoding,
    /// At most this many new tokens.
    pub max_new_tokens: usize,
    /// Strings that end the answer (left out of it), at most four.
    pub stop: Vec<String>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// An end-of-turn token or a stop string.
    Stop,
    /// The token budget ran out.
    Length,
}

/// Tokens counted the way OpenAI's `usage` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated (the end-of-turn token included when there was one).
    pub completion_tokens: usize,
}

/// One generation in progress; owns its KV cache, so several run side by side.
pub struct Generation {
    weights: Weights,
    tokenizer: Arc<LlmTokenizer>,
    processor: LogitsProcessor,
    sampling: Sampling,
    prompt_tokens: usize,
    /// The next position to feed.
    pos: usize,
    /// The token to feed next (sampled, not yet fed).
    pending: Option<u32>,
    generated: Vec<u32>,
    /// The decoded text of `generated`, stop strings not yet cut.
    text: String,
    /// Bytes of `text` handed out so far.
    emitted: usize,
    finish: Option<Finish>,
}

impl Generation {
    /// Start generating after `prompt` (prefill runs here).
    pub fn start(model: &LlmModel, prompt: &[u32], sampling: Sampling) -> Result<Self, LlmError> {
        if prompt.is_empty() {
            return Err(LlmError::Sampling("the prompt is empty".into()));
        }
        if sampling.max_new_tokens == 0 {
            return Err(LlmError::Sampling("max_new_tokens must be at least 1".into()));
        }
        if sampling.stop.len() > 4 || sampling.stop.iter().any(String::is_empty) {
            return Err(LlmError::Sampling("at most four stop strings, none empty".into()));
        }
        let window = model.window();
        if prompt.len().saturating_add(sampling.max_new_tokens) > window {
            return Err(LlmError::ContextWindow {
                prompt: prompt.len(),
                max_new: sampling.max_new_tokens,
                window,
            });
        }
        let mut weights = model.weights()?;
        let mut processor = sampling.decoding.processor();
        let logits = weights.forward(prompt, 0)?;
        let first = processor.sample(&logits)?;
        Ok(Self {
            weights,
            tokenizer: model.tokenizer.clone(),
            processor,
            sampling,
            prompt_tokens: prompt.len(),
            pos: prompt.len(),
            pending: Some(first),
            generated: Vec::new(),
            text: String::new(),
            emitted: 0,
            finish: None,
        })
    }

    /// The next piece of text (possibly empty while a character or a possible stop
    /// string is incomplete), or `None` once generation has ended.
    pub fn step(&mut self) -> Result<Option<String>, LlmError> {
        let Some(token) = self.pending.take() else {
            return Ok(None);
        };
        self.generated.push(token);
        if self.tokenizer.stops().contains(&token) {
            return Ok(Some(self.end(Finish::Stop, None)));
        }
        let text = self.tokenizer.decode(&self.generated)?;
        // A character split across tokens decodes as U+FFFD until its last byte comes.
        if !text.ends_with('\u{FFFD}') {
            self.text = text;
        }
        if let Some(cut) = self.sampling.stop.iter().filter_map(|s| self.text.find(s.as_str())).min() {
            return Ok(Some(self.end(Finish::Stop, Some(cut))));
        }
        if self.generated.len() >= self.sampling.max_new_tokens {
            return Ok(Some(self.end(Finish::Length, None)));
        }
        let logits = self.weights.forward(&[token], self.pos)?;
        self.pos += 1;
        self.pending = Some(self.processor.sample(&logits)?);
        // Hold back a tail that could still become a stop string.
        let held = self.sampling.stop.iter().map(|s| partial_suffix(&self.text, s)).max().unwrap_or(0);
        Ok(Some(self.take(self.text.len() - held)))
    }

    /// Text from what was emitted up to byte `to`.
    fn take(&mut self, to: usize) -> String {
        let piece = self.text.get(self.emitted..to).unwrap_or_default().to_owned();
        self.emitted = self.emitted.max(to);
        piece
    }

    fn end(&mut self, finish: Finish, cut: Option<usize>) -> String {
        self.finish = Some(finish);
        let end = cut.unwrap_or(self.text.len());
        let piece = self.take(end);
        self.text.truncate(end);
        piece
    }

    /// Run to the end; the whole answer.
    pub fn run(&mut self) -> Result<String, LlmError> {
        while self.step()?.is_some() {}
        Ok(self.text.clone())
    }

    /// Why generation ended, once it has.
    pub fn finish(&self) -> Option<Finish> {
        self.finish
    }

    /// The answer so far (all of it, once finished).
    pub fn text(&self) -> &str {
        &self.text[..self.emitted.min(self.text.len())]
    }

    /// The generated token ids.
    pub fn tokens(&self) -> &[u32] {
        &self.generated
    }

    /// Token counts so far.
    pub fn usage(&self) -> Usage {
        Usage { prompt_tokens: self.prompt_tokens, completion_tokens: self.generated.len() }
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of `stop`, at a
/// character boundary.
fn partial_suffix(text: &str, stop: &str) -> usize {
    (1..stop.len())
        .rev()
        .find(|&n| {
            n <= text.len()
                && text.is_char_boundary(text.len() - n)
                && stop.is_char_boundary(n)
                && text.ends_with(&stop[..n])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_that_could_start_a_stop_string_is_held() {
        assert_eq!(partial_suffix("hello wor", "world"), 3);
        assert_eq!(partial_suffix("hello", "world"), 0);
        assert_eq!(partial_suffix("caf\u{e9}", "\u{e9}t\u{e9}"), 2, "whole characters only");
        assert_eq!(partial_suffix("", "x"), 0);
    }

    #[test]
    fn temperature_zero_is_greedy_and_out_of_range_is_refused() {
        assert_eq!(Decoding::new(0.0, 1.0, 7).unwrap(), Decoding::Greedy);
        assert!(matches!(Decoding::new(0.7, 0.9, 7).unwrap(), Decoding::TopP { seed: 7, .. }));
        for (t, p) in [(-0.1, 1.0), (2.1, 1.0), (1.0, 0.0), (1.0, 1.5), (f64::NAN, 1.0), (1.0, f64::NAN)] {
            assert!(Decoding::new(t, p, 0).is_err(), "temperature {t}, top_p {p}");
        }
    }
}
