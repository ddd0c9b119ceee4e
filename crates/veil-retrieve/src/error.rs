//! Why a document set was refused.

/// A document set that cannot be published or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DocsError {
    /// The bytes are not a canonical `veil.docs/1` document set.
    #[error("not a canonical veil.docs/1 document set: {0}")]
    Format(String),
    /// A document's name is not a plain file name.
    #[error("document name {name:?}: {why}")]
    Name {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Two documents share a name.
    #[error("two documents are named {0:?}")]
    Duplicate(String),
    /// The name's extension says no kind this crate reads.
    #[error("document {0:?}: unsupported kind (use .txt, .md or .jsonl)")]
    Kind(String),
    /// A document is not UTF-8 text.
    #[error("document {0:?} is not UTF-8 text")]
    Utf8(String),
    /// A JSON-lines document holds a line that is not one JSON object.
    #[error("document {name:?} line {line}: {why}")]
    Jsonl {
        /// The document.
        name: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// Over one of the set's limits.
    #[error("{what} over the limit of {limit}")]
    TooLarge {
        /// What is counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// No documents at all.
    #[error("a document set needs at least one document")]
    Empty,
}
