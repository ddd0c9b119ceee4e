//! `veil sim-tee`: the development PKI and measurements of the simulated TEE.

use std::path::Path;

use anyhow::{Context, Result, bail};
use veil_sim_tee::{DevPki, SimMeasurement};

use crate::io;

/// Create `DIR/seed` (0600) and `DIR/dev-root.pem`.
pub fn init(dir: &Path) -> Result<()> {
    veil_fs::create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let seed_path = dir.join("seed");
    if seed_path.exists() {
        bail!("{} exists; refusing to replace a dev PKI", seed_path.display());
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let pki = DevPki::from_seed(&seed)?;
    let mut f = veil_fs::AtomicFile::create_new(&seed_path)?;
    std::io::Write::write_all(&mut f, format!("{}\n", hex::encode(seed)).as_bytes())?;
    f.commit()?;
    veil_fs::write_atomic(dir.join("dev-root.pem"), pki.root_pem().as_bytes())?;
    Ok(())
}

/// The MRTD a simulated worker with these inputs reports.
pub fn measure(binary: &Path, config: &Path, model_root: &str) -> Result<SimMeasurement> {
    let config: serde_json::Value = serde_json::from_slice(&io::read_limited(config, 1 << 20)?)
        .with_context(|| format!("{} is not JSON", config.display()))?;
    let root: veil_content::Root = model_root.parse()?;
    Ok(SimMeasurement::of(binary, &config, &root.0)?)
}

/// The dev PKI whose seed (hex, mode 0600) is at `path`.
pub fn load_pki(path: &Path) -> Result<DevPki> {
    io::check_private(path)?;
    let text = io::read_limited(path, 1024)?;
    let seed: [u8; 32] = hex::decode(String::from_utf8_lossy(&text).trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{} is not a 32-byte hex seed", path.display()))?;
    Ok(DevPki::from_seed(&seed)?)
}
