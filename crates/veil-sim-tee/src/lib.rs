//! The simulated TEE, for machines without TDX hardware.
//!
//! A development vendor PKI shaped exactly like Intel's — root CA, PCK CA, a PCK
//! certificate carrying the SGX extension, a TCB signing certificate, both CRLs, TCB
//! info and QE identity — derived from a 32-byte seed, and a quoting enclave that
//! emits real TDX quote v4 bytes. The production verifier (`veil-evidence`, i.e.
//! unchanged `dcap-qvl`) accepts them only when its caller names the dev root; under
//! Intel's root they fail the chain check, so a simulated worker can never pass for
//! hardware by accident.
//!
//! [`Faults`] turn each check the verifier makes into a test knob (debug TD, TCB
//! status, revoked PCK, expired collateral, foreign FMSPC); a wrong measurement is
//! simply another [`SimMeasurement`].
#![forbid(unsafe_code)]

mod attester;
mod der;
mod keys;
mod measure;
mod pki;
mod quote;

pub use attester::SimTdx;
pub use measure::SimMeasurement;
pub use pki::{DEV_FMSPC, DevPki, Faults};
pub use quote::TdReport;

/// Why the simulator could not produce its PKI, collateral or a quote.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Certificate or CRL generation failed.
    #[error("dev PKI: {0}")]
    Pki(String),
    /// A timestamp is outside what the formats can express.
    #[error("time {0} cannot be encoded")]
    Time(u64),
    /// The configuration to measure is not canonicalisable JSON.
    #[error("worker configuration: {0}")]
    Config(String),
    /// Reading an input to the measurement failed.
    #[error("measuring {0}: {1}")]
    Io(std::path::PathBuf, std::io::Error),
}
