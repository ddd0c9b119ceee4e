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
    /// Allowed measurements per platform: each a measurement id (hex), which covers
    /// every register that identifies the software (TDX MRTD and RTMR0–3 with
    /// MRCONFIGID and the owner fields; SNP MEASUREMENT with HOST_DATA, the ID and
    /// author key digests and VMPL; SGX MRENCLAVE, MRSIGNER, product id and SVN).
    /// `veil attest verify` prints it as `measurement_id`.
    pub measurements: BTreeMap<Tee, Vec<String>>,
    /// Resources each measurement may receive; a name ending in `*` is a prefix.
    pub resources: BTreeMap<String, Vec<String>>,
}

impl ReleasePolicy {
    /// Is the measurement id `measurement` (hex) on `tee`'s list?
    pub fn allows_measurement(&self, tee: Tee, measurement: &str) -> bool {
        let allowed = self.measurements.get(&tee).map(Vec::as_slice).unwrap_or_default();
        !measurement.is_empty() && allowed.iter().any(|m| m.eq_ignore_ascii_case(measurement))
    }

    /// Is the measurement of these (already verified) claims on its platform's list?
    pub fn allow_measurement(&self, claims: &Claims) -> Result<(), KmsError> {
        let measurement = claims.measurement_id.clone();
        if !self.allows_measurement(claims.tee, &measurement) {
            let tee = format!("{:?}", claims.tee).to_lowercase();
            return Err(KmsError::MeasurementNotAllowed { tee, measurement });
        }
        Ok(())
    }

    /// May the enclave these (already verified) claims describe receive `resource`?
    pub fn allow(&self, claims: &Claims, resource: &str) -> Result<(), KmsError> {
        self.allow_measurement(claims)?;
        let measurement = claims.measurement_id.clone();
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
