//! The attestation verifier composed for `veil oracle`: its own attester and the trust
//! it checks provers' evidence under.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use veil_oracle::Oracle;

use crate::tee::TeeBackend;
use crate::trust::TrustFiles;
use crate::{Result, StackError};

/// Start a verifier for the prover registry at `registry` on chain `chain_id`,
/// attesting on `tee` (a simulated guest measures the executable `exe` with the chain
/// and registry), checking provers' evidence under the vendors' roots, `dev_roots` and
/// `policy` with any measurement (which may register is the registry's approval list),
/// signing statements valid for `ttl` seconds.
pub fn start(
    tee: &TeeBackend,
    exe: &Path,
    (chain_id, registry): (u64, Address),
    (dev_roots, policy): (Vec<PathBuf>, Option<PathBuf>),
    ttl: u64,
    clock: fn() -> u64,
) -> Result<(Oracle, String)> {
    let config = serde_json::json!({ "role": "oracle", "chain_id": chain_id, "registry": registry });
    let (attester, measurement) =
        crate::tee::attester(tee, || Ok(veil_sim_tee::SimMeasurement::of(exe, &config, &[0; 32])?))?;
    let trust = TrustFiles { dev_roots, policy, any_measurement: true, ..Default::default() }.load()?;
    let oracle = Oracle::new(attester, chain_id, registry, trust, ttl, clock)
        .map_err(|e| StackError::Config(e.to_string()))?;
    Ok((oracle, measurement))
}
