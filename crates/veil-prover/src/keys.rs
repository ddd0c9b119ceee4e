//! Which key file a proof server proves with.
//!
//! A key directory holds, per circuit stem, a development key (`<stem>.pk` with its
//! verifying key `<stem>.vk.json`, from `veil zk setup`) and/or a ceremony's key
//! (`<stem>.zkey`, from a snarkjs phase-2 ceremony, its verifying key inside). The
//! ceremony's key wins: it is the production key, and a development key left beside
//! it is as good as whoever ran `setup` is honest.

use std::path::Path;

use veil_zk::{ZkError, groth, snarkjs};

/// Proving keys are large (the 256-payment income key is ~20 MB); this bounds a read.
const MAX_KEY_BYTES: u64 = 1 << 30;

fn read(path: &Path, max: u64) -> Result<Vec<u8>, ZkError> {
    veil_fs::read_limited(path, max)
        .map_err(|e| ZkError::Malformed { what: "key file", reason: e.to_string() })
}

/// The key file the server would load for `stem` in `dir`, if any.
pub fn key_file(dir: &Path, stem: &str) -> Option<std::path::PathBuf> {
    [format!("{stem}.zkey"), format!("{stem}.pk")].into_iter().map(|name| dir.join(name)).find(|p| p.exists())
}

/// The keys for `stem` in `dir` (a ceremony's `.zkey` over a development `.pk`), or
/// `None` when there are neither.
pub fn load_keys(dir: &Path, stem: &str) -> Result<Option<groth::Keys>, ZkError> {
    let Some(path) = key_file(dir, stem) else {
        return Ok(None);
    };
    let (pk, reduction) = groth::read_pk(&read(&path, MAX_KEY_BYTES)?)?;
    let vk = match reduction {
        groth::Reduction::Snarkjs => pk.vk.clone(),
        groth::Reduction::Arkworks => {
            let vk_path = dir.join(format!("{stem}.vk.json"));
            let json: serde_json::Value = serde_json::from_slice(&read(&vk_path, 1 << 20)?).map_err(|e| {
                ZkError::Malformed { what: "verifying key", reason: format!("{}: {e}", vk_path.display()) }
            })?;
            snarkjs::vk_from_json(&json)?
        }
    };
    Ok(Some(groth::Keys { pk, vk, reduction }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceremony_key_wins_over_a_development_key() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(key_file(dir.path(), "income-1"), None);
        assert!(load_keys(dir.path(), "income-1").unwrap().is_none());
        std::fs::write(dir.path().join("income-1.pk"), b"dev").unwrap();
        assert_eq!(key_file(dir.path(), "income-1"), Some(dir.path().join("income-1.pk")));
        std::fs::write(dir.path().join("income-1.zkey"), b"zkey").unwrap();
        assert_eq!(key_file(dir.path(), "income-1"), Some(dir.path().join("income-1.zkey")));
        // A damaged key is a refusal, not a panic.
        assert!(load_keys(dir.path(), "income-1").is_err());
    }
}
