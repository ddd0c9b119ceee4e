//! BM25 over a set's passages, and a context chosen within limits.

use bm25::{Embedder, EmbedderBuilder, Language, Scorer};

use crate::{DocumentSet, Passage, passages};

/// How much of a set one answer may quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most passages.
    pub max_passages: usize,
    /// The most tokens of the rendered context, counted by the caller's tokenizer.
    pub max_tokens: usize,
}

/// The passages chosen for a question, rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// Indices into [`Index::passages`], best first.
    pub passages: Vec<usize>,
    /// `[SOURCE]\nTEXT\n\n` for each chosen passage, best first (empty when none).
    pub text: String,
    /// The tokens `text` counts.
    pub tokens: usize,
}

/// A set's passages with their BM25 embeddings (English stemming and stop words,
/// document length fitted to this set).
pub struct Index {
    passages: Vec<Passage>,
    embedder: Embedder<u32>,
    scorer: Scorer<usize, u32>,
}

impl Index {
    /// Index every passage of `set`.
    pub fn new(set: &DocumentSet) -> Self {
        let passages: Vec<Passage> = set.documents().iter().flat_map(passages).collect();
        let corpus: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
        let embedder = EmbedderBuilder::<u32>::with_fit_to_corpus(Language::English, &corpus).build();
        let mut scorer = Scorer::new();
        for (i, p) in passages.iter().enumerate() {
            scorer.upsert(&i, embedder.embed(&p.text));
        }
        Self { passages, embedder, scorer }
    }

    /// Every passage, in set order.
    pub fn passages(&self) -> &[Passage] {
        &self.passages
    }

    /// Passages sharing a term with `question`, by score (highest first), ties in set
    /// order.
    pub fn rank(&self, question: &str) -> Vec<(usize, f32)> {
        let mut ranked: Vec<(usize, f32)> = self
            .scorer
            .matches(&self.embedder.embed(question))
            .into_iter()
            .map(|d| (d.id, d.score))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }

    /// The best passages for `question` that fit `limits`: in rank order, each one
    /// that would push the rendered context over `max_tokens` is skipped (a shorter
    /// one further down may still fit). `count_tokens` counts the whole rendered text.
    /// Only the top 4 × `max_passages` ranks are considered, which bounds the
    /// tokenizer's work on large sets; a passage further down is weak evidence.
    pub fn select<E>(
        &self,
        question: &str,
        limits: Limits,
        mut count_tokens: impl FnMut(&str) -> Result<usize, E>,
    ) -> Result<Context, E> {
        let mut context = Context { passages: Vec::new(), text: String::new(), tokens: 0 };
        for (i, _) in self.rank(question).into_iter().take(limits.max_passages.saturating_mul(4)) {
            if context.passages.len() == limits.max_passages {
                break;
            }
            let p = &self.passages[i];
            let text = format!("{}[{}]\n{}\n\n", context.text, p.source, p.text);
            let tokens = count_tokens(&text)?;
            if tokens <= limits.max_tokens {
                context.passages.push(i);
                context.text = text;
                context.tokens = tokens;
            }
        }
        Ok(context)
    }
}
