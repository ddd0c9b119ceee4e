//! Integration tests of veil, in one binary: every `tests/*.rs` file would be
//! another link of the whole dependency tree.

mod attest_cli;
mod chain_cli;
mod cli;
mod codemap;
mod common;
mod fhe_cli;
mod fl_cli;
mod gateway_cli;
mod kms_cli;
mod llm_cli;
mod market_cli;
mod train_cli;
mod zk_cli;
