//! Which TEE an attesting role (`veil worker`, `veil zk serve`) runs on: the hardware,
//! through Linux's configfs-tsm (TDX and SEV-SNP guests), or the simulator on machines
//! without it. Both feed the same verification code at the broker and at verifiers.
//!
//! On hardware the measurement is a reference value the operator supplies (from a
//! reproducible build or the platform's event log), never computed here: the guest
//! cannot measure itself. The broker's answer to the first attestation is checked
//! against it (`veil-worker`), so a wrong reference value stops the worker instead of
//! signing receipts that name the wrong measurement.

use std::path::PathBuf;
use std::sync::Arc;

pub use veil_attester::CONFIGFS_TSM_REPORT;
use veil_attester::{Attester, ConfigfsTsm};
use veil_sim_tee::{SimMeasurement, SimTdx};

use crate::{Result, StackError};

/// Where evidence comes from.
#[derive(Debug, Clone)]
pub enum TeeBackend {
    /// The simulated TDX guest of the dev PKI whose seed file this is.
    Sim {
        /// `veil sim-tee init`'s seed file.
        seed: PathBuf,
    },
    /// A real TDX or SEV-SNP guest, through configfs-tsm.
    ConfigfsTsm {
        /// The report directory (`/sys/kernel/config/tsm/report`).
        dir: PathBuf,
        /// The reference measurement id (hex; `veil attest verify` prints it).
        measurement: String,
    },
}

/// Which TEE an attesting role runs on, as its operator names it (`veil worker`,
/// `veil zk serve`, `veil oracle`).
#[derive(Debug, Clone, clap::Args)]
pub struct TeeFlags {
    /// `sim`: the simulated TDX guest of a dev PKI (machines without the hardware;
    /// production policy refuses its root). `configfs-tsm`: a real TDX or SEV-SNP
    /// guest, through the kernel's configfs-tsm. Default: `sim` when
    /// `--sim-tee-seed` is given.
    #[arg(long, value_parser = ["sim", "configfs-tsm"])]
    pub attester: Option<String>,
    /// The simulated TEE's dev PKI seed (`veil sim-tee init`), for `--attester sim`.
    #[arg(long)]
    pub sim_tee_seed: Option<PathBuf>,
    /// The configfs-tsm report directory, for `--attester configfs-tsm`.
    #[arg(long, default_value = CONFIGFS_TSM_REPORT)]
    pub tsm_dir: PathBuf,
    /// The reference measurement id (hex) for `--attester configfs-tsm`: the digest
    /// over every register that identifies the software (TDX MRTD and RTMR0–3,
    /// MRCONFIGID, owner fields; SNP MEASUREMENT, HOST_DATA, key digests, VMPL), as
    /// `veil attest verify` prints it for this guest's evidence. The broker's view of
    /// this guest must match it.
    #[arg(long)]
    pub measurement: Option<String>,
}

impl TeeFlags {
    /// The backend these flags name, if any: `attester` is `sim` or `configfs-tsm`;
    /// with none, a simulator seed means `sim`.
    pub fn backend(&self) -> Result<Option<TeeBackend>> {
        let need = |what: &str| Err(StackError::Config(what.to_owned()));
        match (self.attester.as_deref(), &self.sim_tee_seed, &self.measurement) {
            (Some("configfs-tsm"), _, Some(measurement)) => Ok(Some(TeeBackend::ConfigfsTsm {
                dir: self.tsm_dir.clone(),
                measurement: measurement.clone(),
            })),
            (Some("configfs-tsm"), _, None) => {
                need("--attester configfs-tsm needs --measurement (the reference value)")
            }
            (Some("sim") | None, Some(seed), _) => Ok(Some(TeeBackend::Sim { seed: seed.clone() })),
            (Some("sim"), None, _) => need("--attester sim needs --sim-tee-seed"),
            (Some(other), _, _) => need(&format!("--attester {other}: expected sim or configfs-tsm")),
            (None, None, _) => Ok(None),
        }
    }
}

/// An attester for `backend` and the measurement verifiers should see (hex).
/// `simulated` is what the simulator measures (only called for [`TeeBackend::Sim`]).
pub fn attester(
    backend: &TeeBackend,
    simulated: impl FnOnce() -> Result<SimMeasurement>,
) -> Result<(Arc<dyn Attester>, String)> {
    match backend {
        TeeBackend::Sim { seed } => {
            let measurement = simulated()?;
            let pki = crate::pki::load(seed)?;
            let hex = measurement.measurement_id();
            Ok((Arc::new(SimTdx::new(Arc::new(pki), measurement)), hex))
        }
        TeeBackend::ConfigfsTsm { dir, measurement } => {
            if measurement.len() != 96 || hex::decode(measurement).is_err() {
                return Err(StackError::Config(format!(
                    "--measurement {measurement:?}: a reference measurement id is 48 bytes of hex (`veil attest verify` prints it as measurement_id)"
                )));
            }
            let tsm = ConfigfsTsm::new(dir);
            // Fail now, in one line, rather than refuse every job later.
            tsm.attest(&[0; 64])
                .map_err(|e| StackError::Config(format!("configfs-tsm at {}: {e}", dir.display())))?;
            Ok((Arc::new(tsm), measurement.to_ascii_lowercase()))
        }
    }
}
