//! The key broker's decision logic, separate from its transport.
//!
//! A release goes challenge → attest → resource (the Confidential Containers Trustee
//! shape). This crate owns the two decisions that do not depend on HTTP: whether a
//! challenge nonce is fresh and unused ([`NonceStore`]), and whether verified
//! claims may receive a resource ([`ReleasePolicy`]). Both deny by default.
#![forbid(unsafe_code)]

mod authz;
mod broker;
mod master;
mod nonce;
mod policy;

pub use authz::{Authorization, Authorizer, PolicyListAuthorizer};
pub use broker::{Broker, BrokerParts, Limits};
pub use master::{MasterError, MasterSecret};
pub use nonce::NonceStore;
// The exchange's types are the protocol's; re-exported for the broker's users.
pub use policy::ReleasePolicy;
use veil_protocol::ErrorCode;
pub use veil_protocol::kms::{
    AuthorizationRecord, ChainRef, Challenge, KEY_RELEASE_PURPOSE, SealedResource, SessionGrant,
    TOKEN_RESOURCE_PREFIX,
};

/// Why the broker refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// The evidence was refused.
    #[error(transparent)]
    Attestation(#[from] veil_evidence::AttestationError),
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
    /// The ledger (or its policy-file stand-in) does not authorize this user.
    #[error("user {user} is not authorized for token {token_id}")]
    NotAuthorized {
        /// The token.
        token_id: String,
        /// The user on whose behalf the key was asked for.
        user: String,
    },
    /// The authorization source could not be read.
    #[error("authorization check failed: {0}")]
    Ledger(String),
    /// The session is unknown or expired: attest again.
    #[error("unknown or expired session; attest again")]
    Session,
    /// The decision could not be recorded, so it was not made.
    #[error("audit log: {0}")]
    Audit(String),
    /// The key could not be sealed to the enclave.
    #[error("sealing the key failed: {0}")]
    Seal(String),
    /// Too many challenges are outstanding.
    #[error("too many outstanding challenges; try again shortly")]
    Busy,
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// A token's key was asked for without the user's valid signed request for it.
    #[error("the user's signed request: {0}")]
    Request(veil_protocol::RequestError),
    /// A token's key was asked for from a broker that serves no deployment.
    #[error("this broker serves no deployment (chain and INFT contract), so it releases no token keys")]
    NoDeployment,
}

impl KmsError {
    /// A stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Attestation(e) => e.into(),
            Self::MeasurementNotAllowed { .. } => ErrorCode::KmsMeasurement,
            Self::ResourceNotAllowed { .. } => ErrorCode::KmsResource,
            Self::NotAuthorized { .. } => ErrorCode::KmsNotAuthorized,
            Self::Ledger(_) => ErrorCode::KmsLedger,
            Self::Session => ErrorCode::KmsSession,
            Self::Audit(_) => ErrorCode::KmsAudit,
            Self::Seal(_) => ErrorCode::KmsSeal,
            Self::Busy => ErrorCode::KmsBusy,
            Self::Rng => ErrorCode::KmsRng,
            Self::Request(e) => e.code(),
            Self::NoDeployment => ErrorCode::KmsNotAuthorized,
        }
    }
}

/// 32 bytes from the operating system's generator.
pub(crate) fn random32() -> Result<[u8; 32], KmsError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| KmsError::Rng)?;
    Ok(bytes)
}
