//! `veil sim-tee`: the development PKI and measurements of the simulated TEE.

use std::path::Path;

use anyhow::{Context, Result};
use veil_sim_tee::SimMeasurement;

use crate::io;

/// The MRTD a simulated worker with these inputs reports.
pub fn measure(binary: &Path, config: &Path, model_root: &str) -> Result<SimMeasurement> {
    let config: serde_json::Value = serde_json::from_slice(&io::read_limited(config, 1 << 20)?)
        .with_context(|| format!("{} is not JSON", config.display()))?;
    let root: veil_content::Root = model_root.parse()?;
    Ok(SimMeasurement::of(binary, &config, &root.0)?)
}
