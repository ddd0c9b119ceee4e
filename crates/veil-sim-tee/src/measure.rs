//! What the simulated TD measures, laid out as a real TDX guest lays it out.
//!
//! MRTD is the firmware's (the TDVF image: the same for every simulated guest). The
//! boot chain is extended into RTMR0 (firmware configuration), RTMR1 (kernel) and
//! RTMR2 (command line), and the application at run time into RTMR3: the worker's
//! real binary, its canonical configuration and the model set it serves, one event
//! each. The guest keeps the event log; a verifier replays it against the quote. A
//! policy pins the measurement id over all of these registers, so the allowlist is
//! tested for real: MRTD alone would name the firmware and admit any application.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha384};
use veil_evidence::{TdxEvent, Tee};

use crate::SimError;

/// The simulated platform's fixed components: (register, what, domain tag). Register
/// `None` is MRTD.
const BOOT: [(Option<u8>, &str, &[u8]); 4] = [
    (None, "firmware (TDVF)", b"veil/sim-tee/firmware/v1"),
    (Some(0), "firmware configuration", b"veil/sim-tee/firmware-config/v1"),
    (Some(1), "kernel", b"veil/sim-tee/kernel/v1"),
    (Some(2), "kernel command line", b"veil/sim-tee/cmdline/v1"),
];

/// The RTMR the application is measured into at run time.
const APPLICATION_RTMR: u8 = 3;

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

    /// The TD's MRTD: the firmware's, the same for every simulated guest.
    pub fn mr_td(&self) -> [u8; 48] {
        Sha384::digest(BOOT[0].2).into()
    }

    /// What the guest extended into its RTMRs, in order: the boot chain, then the
    /// application (binary, configuration, model set).
    pub fn event_log(&self) -> Vec<TdxEvent> {
        let mut events: Vec<TdxEvent> = BOOT
            .iter()
            .filter_map(|(r, what, tag)| r.map(|r| TdxEvent::new(r, Sha384::digest(tag).into(), *what)))
            .collect();
        events.push(TdxEvent::new(APPLICATION_RTMR, self.binary, "application binary (SHA-384)"));
        events.push(TdxEvent::new(
            APPLICATION_RTMR,
            self.config,
            "application configuration (SHA-384 of RFC 8785 JSON)",
        ));
        events.push(TdxEvent::new(APPLICATION_RTMR, self.model, "model set root (0G, zero-extended)"));
        events
    }

    /// RTMR0–3 as the event log leaves them.
    pub fn rtmrs(&self) -> [[u8; 48]; 4] {
        let mut rtmrs = [[0u8; 48]; 4];
        for e in self.event_log() {
            let digest: [u8; 48] =
                hex::decode(&e.digest).ok().and_then(|d| d.try_into().ok()).unwrap_or([0; 48]);
            veil_evidence::extend(&mut rtmrs[usize::from(e.rtmr)], &digest);
        }
        rtmrs
    }

    /// Every register the TD reports (hex by name, as verified claims name them);
    /// MRCONFIGID and the owner fields are zero.
    pub fn registers(&self) -> BTreeMap<String, String> {
        let mut r = BTreeMap::new();
        r.insert("mr_td".to_owned(), hex::encode(self.mr_td()));
        for (i, rtmr) in self.rtmrs().iter().enumerate() {
            r.insert(format!("rtmr{i}"), hex::encode(rtmr));
        }
        for zero in ["mr_config_id", "mr_owner", "mr_owner_config"] {
            r.insert(zero.to_owned(), hex::encode([0u8; 48]));
        }
        r
    }

    /// The measurement id a policy pins for this TD (see `veil_evidence::measurement_id`).
    pub fn measurement_id(&self) -> String {
        veil_evidence::measurement_id(Tee::Tdx, &self.registers()).unwrap_or_default()
    }
}
