//! Remote attestation: is this evidence fresh hardware proof that the exact code we
//! allow is running, bound to the keys it claims?
//!
//! One entry point per evidence family, each taking the evidence, explicit trust
//! anchors, an explicit policy and the verification time, and returning [`Claims`] or
//! an [`AttestationError`] whose [`code`](AttestationError::code) is stable. Nothing
//! here trusts a default root, fetches collateral, or reads the clock.
#![forbid(unsafe_code)]

mod binding;
mod error;
mod evidence;
mod found;
mod intel;
mod measurement;
mod snp;
mod snp_crl;

pub use binding::{
    MAX_EVIDENCE_AGE_SECS, REPORT_DATA_DOMAIN, RuntimeData, check_binding, expected_report_data,
};
pub use error::AttestationError;
pub use evidence::{Evidence, TrustAnchors, verify};
pub use found::{Found, classify};
pub use intel::{IntelPolicy, intel_root_ca, verify_intel_quote};
pub use measurement::{MAX_EVENTS, TdxEvent, extend, identity_registers, measurement_id, replay};
pub use snp::{SnpPolicy, SnpTcb, amd_roots, verify_snp_report, verify_snp_report_with_crl};
pub use snp_crl::check_amd_crl;

use serde::Serialize;

/// Everything a verifier accepts, per platform. Absent sections mean the defaults,
/// which accept only fully up-to-date platforms with no optional features.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Intel TDX and SGX.
    pub intel: IntelPolicy,
    /// AMD SEV-SNP.
    pub snp: SnpPolicy,
}

/// Which trusted execution environment produced the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tee {
    /// Intel TDX (quote v4 or v5).
    Tdx,
    /// Intel SGX (quote v3).
    Sgx,
    /// AMD SEV-SNP.
    Snp,
}

/// What verified evidence establishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The TEE.
    pub tee: Tee,
    /// Quote format version.
    pub quote_version: u16,
    /// The platform's TCB status per the collateral (e.g. `UpToDate`).
    pub tcb_status: String,
    /// Security advisories that apply to this platform's TCB.
    pub advisory_ids: Vec<String>,
    /// What a policy pins: [`measurement_id`] over the identity registers (hex).
    pub measurement_id: String,
    /// Every register the evidence reports, by name (hex).
    pub measurements: std::collections::BTreeMap<String, String>,
    /// A TDX guest's event log, verified to replay to its RTMRs (empty when none was
    /// presented).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_log: Vec<TdxEvent>,
    /// The 64 bytes the enclave bound into the evidence (hex).
    pub report_data: String,
    /// Whether the enclave runs in debug mode (always false when verified).
    pub debug: bool,
    /// Platform identity and TCB facts (Intel: `fmspc`; AMD: `chip_id`, `reported_tcb`).
    pub platform: std::collections::BTreeMap<String, String>,
    /// Unix time after which this verification's collateral is no longer valid.
    pub collateral_expires_at: u64,
    /// True when the root of trust is a development root, never a vendor's.
    pub dev_root: bool,
}

impl Claims {
    /// Claims for `tee` with these registers; the measurement id is computed from them
    /// (empty if one is missing, which no policy can then match).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        tee: Tee,
        quote_version: u16,
        tcb_status: String,
        advisory_ids: Vec<String>,
        measurements: std::collections::BTreeMap<String, String>,
        report_data: String,
        platform: std::collections::BTreeMap<String, String>,
        collateral_expires_at: u64,
        dev_root: bool,
    ) -> Self {
        Self {
            tee,
            quote_version,
            tcb_status,
            advisory_ids,
            measurement_id: measurement_id(tee, &measurements).unwrap_or_default(),
            measurements,
            event_log: Vec::new(),
            report_data,
            debug: false,
            platform,
            collateral_expires_at,
            dev_root,
        }
    }
}
