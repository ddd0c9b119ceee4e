//! A token's private documents, and the bounded context an LLM answers from.
//!
//! An owner publishes a [`DocumentSet`] (plain text, Markdown, JSON lines) sealed to
//! a token's key; the worker opens it inside the enclave, cuts it into [`Passage`]s,
//! and for each question [`Index::select`]s the passages BM25 ranks highest, within a
//! passage count and a token budget measured with the serving model's own tokenizer.
//!
//! Two invariants make the receipt's `context_hash` meaningful:
//! - **One byte string per set.** [`DocumentSet::encode`] is canonical (RFC 8785 JSON,
//!   documents sorted by name) and [`DocumentSet::decode`] refuses any other encoding
//!   of the same documents, so a set's 0G root names its content and nothing else.
//! - **Retrieval is a function.** The same set, question and limits select the same
//!   passages in the same order and render the same context bytes on every machine:
//!   ties are broken by passage order, never by hash-map iteration.
//!
//! No I/O here: the binary reads files, this crate only judges and transforms bytes.
#![forbid(unsafe_code)]

mod docset;
mod error;
mod index;
mod passage;

pub use docset::{Document, DocumentSet, FORMAT, Kind, MAX_DOCUMENTS, MAX_NAME_BYTES, MAX_SET_BYTES};
pub use error::DocsError;
pub use index::{Context, Index, Limits};
pub use passage::{MAX_PASSAGE_WORDS, Passage, passages};
