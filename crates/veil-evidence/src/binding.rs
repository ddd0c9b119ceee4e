//! How evidence binds an enclave's runtime keys and a verifier's nonce.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use crate::AttestationError;

/// Domain tag hashed in front of the runtime data, so report_data made for Veil can
/// never be mistaken for another protocol's.
pub const REPORT_DATA_DOMAIN: &[u8] = b"veil/attestation/report-data/v1\0";

/// What the enclave puts behind its report_data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeData {
    /// The verifier's single-use challenge (hex).
    pub nonce: String,
    /// The enclave's public keys by role (e.g. `hpke`, `ed25519`), encoded as strings.
    pub public_keys: std::collections::BTreeMap<String, String>,
    /// What the evidence is for (e.g. `kms/key-release`).
    pub purpose: String,
    /// When the enclave made the evidence (Unix seconds, its clock). Receipts signed
    /// under this evidence must fall after it and within
    /// [`MAX_EVIDENCE_AGE_SECS`], so a leaked enclave key cannot date a receipt
    /// before the enclave existed. Absent in evidence made before it was introduced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<u64>,
}

/// How long after its evidence was made a receipt may be signed under it. A worker's
/// broker session (default 300 s) must be shorter: it attests again before then.
pub const MAX_EVIDENCE_AGE_SECS: u64 = 3600;

/// `SHA-512(domain ‖ JCS(runtime_data))`: the 64 bytes the enclave must report.
pub fn expected_report_data(rd: &RuntimeData) -> Result<[u8; 64], AttestationError> {
    let canonical = veil_jcs::to_canonical_vec(rd).map_err(|e| AttestationError::Parse(e.to_string()))?;
    let mut h = Sha512::new();
    h.update(REPORT_DATA_DOMAIN);
    h.update(&canonical);
    Ok(h.finalize().into())
}

/// Check that verified claims carry exactly this runtime data.
pub fn check_binding(report_data_hex: &str, rd: &RuntimeData) -> Result<(), AttestationError> {
    let expected = hex::encode(expected_report_data(rd)?);
    if expected != report_data_hex {
        return Err(AttestationError::Binding(format!(
            "report_data {}… is not SHA-512 of the runtime data ({}…)",
            &report_data_hex[..report_data_hex.len().min(16)],
            &expected[..16]
        )));
    }
    Ok(())
}
