//! The attestation verifier composed for `veil oracle`: its own attester and the trust
//! it checks provers' evidence under.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use veil_oracle::Oracle;

use crate::tee::TeeBackend;
use crate::trust::TrustFiles;
use crate::{Result, StackError};

/// What `veil oracle` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct OracleOptions {
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
    #[arg(long = "dev-root")]
    pub dev_roots: Vec<PathBuf>,
    /// Attestation policy for provers' evidence (TOML); default: only fully up-to-date
    /// platforms. Which measurements may register is the registry's approval list.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Where this verifier's own evidence comes from (the simulated measurement covers
    /// this binary, the chain and the registry).
    #[command(flatten)]
    pub tee: crate::tee::TeeFlags,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:7090")]
    pub listen: std::net::SocketAddr,
}

/// Start the verifier `opts` describe, attesting on `tee` (a simulated guest measures
/// the executable `exe` with the chain and registry), checking provers' evidence under
/// the vendors' roots, the dev roots and the policy with any measurement (which may
/// register is the registry's approval list).
pub fn start(
    opts: &OracleOptions,
    tee: &TeeBackend,
    exe: &Path,
    clock: fn() -> u64,
) -> Result<(Oracle, String)> {
    let (chain_id, registry) = (opts.chain_id, opts.registry);
    let config = serde_json::json!({ "role": "oracle", "chain_id": chain_id, "registry": registry });
    let (attester, measurement) =
        crate::tee::attester(tee, || Ok(veil_sim_tee::SimMeasurement::of(exe, &config, &[0; 32])?))?;
    let (dev_roots, policy) = (opts.dev_roots.clone(), opts.policy.clone());
    let trust = TrustFiles { dev_roots, policy, any_measurement: true, ..Default::default() }.load()?;
    let oracle = Oracle::new(attester, chain_id, registry, trust, opts.ttl, clock)
        .map_err(|e| StackError::Config(e.to_string()))?;
    Ok((oracle, measurement))
}
