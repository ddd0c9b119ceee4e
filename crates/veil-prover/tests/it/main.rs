//! Integration tests of veil-prover, in one binary: every `tests/*.rs` file would be
//! another link of the whole dependency tree.

mod common;
mod inference;
mod server;
