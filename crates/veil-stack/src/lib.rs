//! Every Veil role on one machine, composed: what `veil up` and `veil demo` run.
//!
//! [`stack::start`] initialises a directory on first use (the simulated TEE's dev
//! PKI, the embedded chain with Veil's contracts, the local store with the bundled
//! models, the measured worker config, the key broker's identity and allowlist) and
//! then runs the embedded chain (also over HTTP), the key broker reading that chain,
//! the gateway, and N worker processes under a supervisor that replaces any that die.
//! [`ledger`] opens the embedded chain or any JSON-RPC endpoint as a signer;
//! [`kms`] builds a key broker from its configuration file; [`keys`] reads and
//! writes the private key files every role uses; [`publish`] seals a token's data
//! to its key under the mint-first rule; [`zk`] composes the proof server
//! (which keys a directory serves, the pins a verifier needs) and writes proofs.
//!
//! This crate composes; it decides nothing the role crates decide. It is the only
//! library besides tests that depends on `veil-sim-tee`: the one-machine stack runs
//! simulated TDX workers, and its broker trusts that simulator's root only because
//! the generated `kms.toml` names it. It never reads the environment or the clock:
//! the binary hands it the executable to run as a worker and a clock.
#![forbid(unsafe_code)]

pub mod bench;
pub mod demo;
mod error;
pub mod fhe;
pub mod fl;
pub mod keys;
pub mod kms;
pub mod ledger;
pub mod market;
pub mod marketplace;
pub mod oracle;
pub mod pki;
pub mod publish;
pub mod stack;
pub mod store;
pub mod tee;
pub mod tlog;
pub mod train;
pub mod trust;
pub mod zk;

pub use error::StackError;

/// A stack operation's result.
pub type Result<T, E = StackError> = std::result::Result<T, E>;
