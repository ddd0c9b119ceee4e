//! Integration tests of veil-zk, in one binary: every `tests/*.rs` file would be
//! another link of the whole dependency tree.

mod ceremony;
mod evm;
mod reference;
