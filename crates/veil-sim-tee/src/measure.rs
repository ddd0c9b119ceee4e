//! What the simulated TD measures: the worker's real binary, its configuration and
//! the model it serves, so that an allowlist of measurements is tested for real.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha384};

use crate::SimError;

/// Domain tag of the simulated MRTD.
const MR_TD_DOMAIN: &[u8] = b"veil/sim-tee/mr_td/v1\0";

/// The inputs of a simulated launch measurement, each as a SHA-384 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMeasurement {
    /// SHA-384 of the worker's executable.
    pub binary: [u8; 48],
    /// SHA-384 of the RFC 8785 canonical JSON of its configuration.
    pub config: [u8; 48],
    /// The model's weights hash (its 0G root), zero-extended.
    pub model: [u8; 48],
}

impl SimMeasurement {
    /// Measure `binary` (read in full), `config` (canonicalised) and `model_root`.
    pub fn of(binary: &Path, config: &impl Serialize, model_root: &[u8; 32]) -> Result<Self, SimError> {
        let io = |e| SimError::Io(binary.to_path_buf(), e);
        let mut file = std::fs::File::open(binary).map_err(io)?;
        let mut h = Sha384::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = veil_fs::read_full(&mut file, &mut buf).map_err(io)?;
            h.update(&buf[..n]);
            if n < buf.len() {
                break;
            }
        }
        let canonical = veil_jcs::to_canonical_vec(config).map_err(|e| SimError::Config(e.to_string()))?;
        Ok(Self::from_digests(h.finalize().into(), Sha384::digest(&canonical).into(), model_root))
    }

    /// From digests computed elsewhere.
    pub fn from_digests(binary: [u8; 48], config: [u8; 48], model_root: &[u8; 32]) -> Self {
        let mut model = [0u8; 48];
        model[..32].copy_from_slice(model_root);
        Self { binary, config, model }
    }

    /// The TD's MRTD: one value binding all three inputs, the one a policy allowlists.
    pub fn mr_td(&self) -> [u8; 48] {
        let mut h = Sha384::new();
        h.update(MR_TD_DOMAIN);
        h.update(self.binary);
        h.update(self.config);
        h.update(self.model);
        h.finalize().into()
    }

    /// RTMR 0–2 as a TD that extended each input once would report them
    /// (`RTMR = SHA-384(0^48 ‖ digest)`), so each input can be checked on its own.
    pub fn rtmrs(&self) -> [[u8; 48]; 3] {
        let extend = |d: &[u8; 48]| -> [u8; 48] {
            let mut h = Sha384::new();
            h.update([0u8; 48]);
            h.update(d);
            h.finalize().into()
        };
        [extend(&self.binary), extend(&self.config), extend(&self.model)]
    }
}
