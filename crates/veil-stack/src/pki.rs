//! The simulated TEE's development PKI: a seed (0600) and the root certificate a
//! broker must name in `dev_roots` before it accepts this simulator's evidence.

use std::path::Path;

use veil_sim_tee::DevPki;

use crate::{Result, StackError};

/// What a simulated worker measures for the executable `binary`, the configuration
/// file `config` (JSON, canonicalised) and a model's weights root (`veil sim-tee
/// measure`).
pub fn measure(
    binary: &Path,
    config: &Path,
    model_root: &veil_content::Root,
) -> Result<veil_sim_tee::SimMeasurement> {
    let config: serde_json::Value = veil_fs::read_json(config, 1 << 20, "JSON")?;
    Ok(veil_sim_tee::SimMeasurement::of(binary, &config, &model_root.0)?)
}

/// Create `DIR/seed` (0600) and `DIR/dev-root.pem`; refuses to replace a PKI.
pub fn init(dir: &Path) -> Result<()> {
    veil_fs::create_private_dir(dir).map_err(StackError::io(format!("creating {}", dir.display())))?;
    let seed_path = dir.join("seed");
    if seed_path.exists() {
        return Err(StackError::Config(format!(
            "{} exists; refusing to replace a dev PKI",
            seed_path.display()
        )));
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).map_err(|e| StackError::Config(format!("random: {e}")))?;
    let pki = DevPki::from_seed(&seed)?;
    crate::keys::write_new_secret(
        &seed_path,
        zeroize::Zeroizing::new(format!("{}\n", hex::encode(*seed))).as_bytes(),
    )?;
    veil_fs::write_atomic(dir.join("dev-root.pem"), pki.root_pem().as_bytes())?;
    Ok(())
}

/// The dev PKI whose seed (hex, mode 0600) is at `path`.
pub fn load(path: &Path) -> Result<DevPki> {
    veil_fs::check_private(path)?;
    let text = zeroize::Zeroizing::new(veil_fs::read_limited(path, 1024)?);
    let seed: [u8; 32] = hex::decode(String::from_utf8_lossy(&text).trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StackError::Config(format!("{} is not a 32-byte hex seed", path.display())))?;
    Ok(DevPki::from_seed(&seed)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pki_is_made_once_and_loads_to_the_same_root() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        init(&pki).unwrap();
        let root = std::fs::read_to_string(pki.join("dev-root.pem")).unwrap();
        assert_eq!(load(&pki.join("seed")).unwrap().root_pem(), root);
        assert!(init(&pki).unwrap_err().to_string().contains("refusing to replace"));
    }
}
