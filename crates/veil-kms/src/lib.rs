//! The key broker's decision logic, separate from its transport.
//!
//! A release goes challenge → attest → resource (the Confidential Containers Trustee
//! shape). This crate owns the two decisions that do not depend on HTTP: whether a
//! challenge nonce is fresh and unused ([`NonceStore`]), and whether verified
//! claims may receive a resource ([`ReleasePolicy`]). Both deny by default.
#![forbid(unsafe_code)]

mod master;
mod nonce;
mod policy;

pub use master::{MasterError, MasterSecret};
pub use nonce::{Challenge, NonceStore};
pub use policy::{ReleasePolicy, primary_measurement};

/// Why the broker refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// The evidence was refused.
    #[error(transparent)]
    Attestation(#[from] veil_attest::AttestationError),
    /// The measurement is not on the platform's allowlist (an empty list allows none).
    #[error("measurement {measurement} is not allowed for {tee}")]
    MeasurementNotAllowed {
        /// The platform.
        tee: String,
        /// The measurement presented (hex).
        measurement: String,
    },
    /// The measurement may not receive this resource.
    #[error("measurement {measurement} may not receive resource {resource:?}")]
    ResourceNotAllowed {
        /// The resource asked for.
        resource: String,
        /// The measurement presented (hex).
        measurement: String,
    },
    /// Too many challenges are outstanding.
    #[error("too many outstanding challenges; try again shortly")]
    Busy,
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

impl KmsError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Attestation(e) => e.code(),
            Self::MeasurementNotAllowed { .. } => "kms.measurement",
            Self::ResourceNotAllowed { .. } => "kms.resource",
            Self::Busy => "kms.busy",
            Self::Rng => "kms.rng",
        }
    }
}
