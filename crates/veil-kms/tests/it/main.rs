//! Integration tests of veil-kms, in one binary: every `tests/*.rs` file would be
//! another link of the whole dependency tree.

mod decisions;
mod master;
