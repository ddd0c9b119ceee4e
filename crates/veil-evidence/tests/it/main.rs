//! Integration tests of veil-attest, in one binary: every `tests/*.rs` file would be
//! another link of the whole dependency tree.

mod amd_crl;
mod binding;
mod envelope;
mod intel_fixtures;
mod snp_fixtures;
