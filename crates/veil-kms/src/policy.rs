//! Which verified enclaves may receive which resources.

use std::collections::BTreeMap;

use serde::Deserialize;
use veil_evidence::{Claims, Tee};

use crate::KmsError;

/// The broker's release policy (the `[release]` part of its TOML policy file).
/// Nothing is released unless listed: an empty allowlist denies every enclave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReleasePolicy {
    /// Allowed measurements per platform (hex): TDX `mr_td`, SGX `mr_enclave`, SNP
    /// `measurement`.
    pub measurements: BTreeMap<Tee, Vec<String>>,
    /// Resources each measurement may receive; a name ending in `*` is a prefix.
    pub resources: BTreeMap<String, Vec<String>>,
}

/// The measurement that identifies the code on each platform (see
/// [`Claims::primary_measurement`]).
pub fn primary_measurement(claims: &Claims) -> Option<&str> {
    claims.primary_measurement()
}

impl ReleasePolicy {
    /// Is `measurement` (hex) on `tee`'s list?
    pub fn allows_measurement(&self, tee: Tee, measurement: &str) -> bool {
        let allowed = self.measurements.get(&tee).map(Vec::as_slice).unwrap_or_default();
        !measurement.is_empty() && allowed.iter().any(|m| m.eq_ignore_ascii_case(measurement))
    }

    /// Is the measurement of these (already verified) claims on its platform's list?
    pub fn allow_measurement(&self, claims: &Claims) -> Result<(), KmsError> {
        let measurement = primary_measurement(claims).unwrap_or_default().to_owned();
        if !self.allows_measurement(claims.tee, &measurement) {
            let tee = format!("{:?}", claims.tee).to_lowercase();
            return Err(KmsError::MeasurementNotAllowed { tee, measurement });
        }
        Ok(())
    }

    /// May the enclave these (already verified) claims describe receive `resource`?
    pub fn allow(&self, claims: &Claims, resource: &str) -> Result<(), KmsError> {
        self.allow_measurement(claims)?;
        let measurement = primary_measurement(claims).unwrap_or_default().to_owned();
        let grants = self
            .resources
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(&measurement))
            .map(|(_, r)| r.as_slice())
            .unwrap_or_default();
        let matches = |pattern: &String| match pattern.strip_suffix('*') {
            Some(prefix) => resource.starts_with(prefix),
            None => pattern == resource,
        };
        if !grants.iter().any(matches) {
            return Err(KmsError::ResourceNotAllowed { resource: resource.to_owned(), measurement });
        }
        Ok(())
    }
}
