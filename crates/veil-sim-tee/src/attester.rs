//! The simulator as an [`Attester`] backend: a TD measured from the worker's real
//! inputs, quoting through the dev PKI.

use std::sync::Arc;

use veil_attester::{Attester, AttesterError, RawEvidence};
use veil_evidence::Tee;

use crate::{DevPki, Faults, SimMeasurement, TdReport};

/// A simulated TDX guest.
#[derive(Debug, Clone)]
pub struct SimTdx {
    pki: Arc<DevPki>,
    measurement: SimMeasurement,
    faults: Faults,
    clock: fn() -> u64,
}

fn system_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl SimTdx {
    /// A TD with `measurement`, quoting through `pki`, with no faults.
    pub fn new(pki: Arc<DevPki>, measurement: SimMeasurement) -> Self {
        Self { pki, measurement, faults: Faults::default(), clock: system_now }
    }

    /// The same TD with faults injected.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The same TD dating its collateral by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: fn() -> u64) -> Self {
        self.clock = clock;
        self
    }

    /// The measurement this TD reports.
    pub fn measurement(&self) -> &SimMeasurement {
        &self.measurement
    }
}

impl Attester for SimTdx {
    fn attest(&self, report_data: &[u8; 64]) -> Result<RawEvidence, AttesterError> {
        let quote = self.pki.quote(&TdReport {
            mr_td: self.measurement.mr_td(),
            rtmr: self.measurement.rtmrs(),
            report_data: *report_data,
            debug: self.faults.debug,
        });
        let collateral = self
            .pki
            .collateral((self.clock)(), &self.faults)
            .map_err(|e| AttesterError::Simulator(e.to_string()))?;
        Ok(RawEvidence {
            tee: Tee::Tdx,
            quote,
            auxblob: None,
            collateral: Some(collateral),
            event_log: Some(self.measurement.event_log()),
        })
    }
}
