//! `veil oracle`: the attestation verifier as a service in its own enclave.

use std::path::PathBuf;
use std::sync::Arc;

use alloy::primitives::Address;
use anyhow::{Context, Result};
use clap::Args;

/// `veil oracle` arguments.
#[derive(Args)]
pub struct OracleArgs {
    /// The EIP-155 id of the chain whose prover registry the statements are for.
    #[arg(long)]
    pub chain_id: u64,
    /// The prover registry's address.
    #[arg(long)]
    pub registry: Address,
    /// Seconds a statement stays valid (the registry allows up to 30 days).
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    pub ttl: u64,
    /// Also trust this development root for provers' evidence (simulated TEEs only).
    #[arg(long)]
    pub dev_root: Vec<PathBuf>,
    /// Attestation policy for provers' evidence (TOML); default: only fully up-to-date
    /// platforms. Which measurements may register is the registry's approval list.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Where this verifier's own evidence comes from (the simulated measurement covers
    /// this binary, the chain and the registry).
    #[command(flatten)]
    pub tee: crate::worker::TeeArgs,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:7090")]
    pub listen: std::net::SocketAddr,
}

/// Serve `GET /v1/attestation`, `POST /v1/statements` and `GET /v1/health` until
/// interrupted.
pub fn run(args: OracleArgs) -> Result<()> {
    crate::init_tracing();
    let backend = args.tee.backend()?.context(
        "the verifier attests: give --sim-tee-seed SEED, or --attester configfs-tsm --measurement HEX",
    )?;
    let (oracle, measurement) = veil_stack::oracle::start(
        &backend,
        &crate::current_exe()?,
        (args.chain_id, args.registry),
        (args.dev_root, args.policy),
        args.ttl,
        crate::unix_now,
    )?;
    tracing::info!(signer = %oracle.address(), %measurement, "attestation verifier starting");
    crate::runtime()?.block_on(crate::serve(args.listen, veil_oracle::router(Arc::new(oracle)), false))
}
