//! Intel TDX and SGX quotes (DCAP), verified with `dcap-qvl` under an explicit root.
//!
//! `dcap-qvl` checks the quote's signatures, the PCK chain to the given root, the CRLs
//! and the collateral's validity at the given time. Veil then applies its own policy:
//! plain `verify()` in `dcap-qvl` would accept an `OutOfDate` platform; here every
//! status and advisory must be listed to be accepted.

use std::collections::BTreeMap;

use dcap_qvl::quote::Report;
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::{QuoteCollateralV3, QuotePolicy, TcbStatus};
use serde::Deserialize;

use crate::{AttestationError, Claims, Tee};

/// Intel SGX Root CA (the root of every genuine SGX/TDX attestation), pinned here.
static INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("../roots/intel-sgx-root-ca.der");

/// The DER of Intel's SGX Root CA.
pub fn intel_root_ca() -> &'static [u8] {
    INTEL_SGX_ROOT_CA_DER
}

/// What an Intel platform must satisfy. Everything not listed is refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelPolicy {
    /// TCB statuses accepted (names as in Intel's TCB info, e.g. `UpToDate`).
    pub allowed_statuses: Vec<String>,
    /// Advisories accepted (e.g. `INTEL-SA-00615`); any other one refuses the quote.
    pub allowed_advisories: Vec<String>,
    /// Accept platforms with hyperthreading enabled.
    pub allow_smt: bool,
    /// Accept platforms whose PCK says "dynamic platform".
    pub allow_dynamic_platform: bool,
    /// Accept platforms whose PCK says "cached keys".
    pub allow_cached_keys: bool,
}

impl Default for IntelPolicy {
    /// Only `UpToDate`, no advisories, no optional platform features.
    fn default() -> Self {
        Self {
            allowed_statuses: vec!["UpToDate".into()],
            allowed_advisories: Vec::new(),
            allow_smt: false,
            allow_dynamic_platform: false,
            allow_cached_keys: false,
        }
    }
}

/// Map `dcap-qvl`'s error chain (it reports through `anyhow`) onto stable kinds.
fn classify(e: &anyhow::Error) -> AttestationError {
    let msg = format!("{e:#}");
    let m = msg.to_ascii_lowercase();
    let has = |needle: &str| m.contains(needle);
    if has("root ca crl") || has("failed to load root ca") {
        // The collateral's root CRL is not signed by this root: the evidence belongs
        // to another PKI, which is a chain failure (callers then try their next root).
        AttestationError::Chain(msg)
    } else if has("debug mode is enabled") {
        AttestationError::Debug
    } else if has("no matching tcb level") {
        AttestationError::TcbStatus { status: "NoMatchingTcbLevel".into(), advisories: Vec::new() }
    } else if has("revoked") {
        AttestationError::Revoked(msg)
    } else if has("expired") || has("not yet valid") || has("nextupdate") || has("time window") {
        AttestationError::CollateralExpired(msg)
    } else if has("certificate chain") || has("unknown issuer") || has("unknownissuer") || has("root ca") {
        AttestationError::Chain(msg)
    } else if has("signature") {
        AttestationError::Signature(msg)
    } else if has("decode") || has("unsupported") || has("parse") || has("length") || has("must have version")
    {
        AttestationError::Parse(msg)
    } else {
        AttestationError::Policy(msg)
    }
}

fn hex_map(entries: &[(&str, &[u8])]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| ((*k).to_owned(), hex::encode(v))).collect()
}

/// Verify an Intel quote (TDX v4/v5 or SGX v3) with its collateral at `now` (Unix
/// seconds) against `root_der`, then apply `policy`.
pub fn verify_intel_quote(
    quote: &[u8],
    collateral_json: &[u8],
    root_der: &[u8],
    policy: &IntelPolicy,
    now: u64,
) -> Result<Claims, AttestationError> {
    let collateral: QuoteCollateralV3 = serde_json::from_slice(collateral_json)
        .map_err(|e| AttestationError::Parse(format!("collateral: {e}")))?;
    let verifier = QuoteVerifier::new(root_der.to_vec());
    // `claims_only` makes dcap-qvl appraise nothing beyond crypto, chains, CRLs and
    // time; every policy decision below is Veil's and explicit.
    let claims = verifier
        .verify_with_policy(quote, collateral, now, &QuotePolicy::claims_only(now))
        .map_err(|e| classify(&e))?;

    let status = claims.tcb.status.to_string();
    let mut advisories: Vec<String> = claims
        .platform
        .tcb_level
        .advisory_ids
        .iter()
        .chain(claims.platform.current_tcb_level.iter().flat_map(|l| &l.advisory_ids))
        .chain(&claims.qe.tcb_level.advisory_ids)
        .cloned()
        .collect();
    advisories.sort();
    advisories.dedup();
    if claims.tcb.status == TcbStatus::Revoked {
        return Err(AttestationError::Revoked("TCB status is Revoked".into()));
    }
    let not_allowed: Vec<String> = advisories
        .iter()
        .filter(|a| !policy.allowed_advisories.iter().any(|p| p.eq_ignore_ascii_case(a)))
        .cloned()
        .collect();
    if !policy.allowed_statuses.contains(&status) || !not_allowed.is_empty() {
        return Err(AttestationError::TcbStatus { status, advisories: not_allowed });
    }
    let pck = &claims.platform.pck;
    let flag = |f: &dcap_qvl::PckCertFlag| *f == dcap_qvl::PckCertFlag::True;
    if flag(&pck.smt_enabled) && !policy.allow_smt {
        return Err(AttestationError::Policy("SMT (hyperthreading) is enabled on the platform".into()));
    }
    if flag(&pck.dynamic_platform) && !policy.allow_dynamic_platform {
        return Err(AttestationError::Policy("the platform is a dynamic platform".into()));
    }
    if flag(&pck.cached_keys) && !policy.allow_cached_keys {
        return Err(AttestationError::Policy("the platform uses cached keys".into()));
    }

    let (tee, measurements, report_data) = match &claims.report {
        Report::SgxEnclave(r) => (
            Tee::Sgx,
            hex_map(&[
                ("mr_enclave", &r.mr_enclave),
                ("mr_signer", &r.mr_signer),
                ("isv_prod_id", &r.isv_prod_id.to_be_bytes()),
                ("isv_svn", &r.isv_svn.to_be_bytes()),
            ]),
            r.report_data,
        ),
        Report::TD10(r) => (Tee::Tdx, td_measurements(r), r.report_data),
        Report::TD15(r) => (Tee::Tdx, td_measurements(&r.base), r.base.report_data),
        Report::TD15Ex(r) => (Tee::Tdx, td_measurements(&r.base.base), r.base.base.report_data),
    };
    Ok(Claims::new(
        tee,
        claims.header.version,
        status,
        advisories,
        measurements,
        hex::encode(report_data),
        [("fmspc".to_owned(), hex::encode(pck.fmspc))].into(),
        claims.earliest_expiration_date,
        root_der != INTEL_SGX_ROOT_CA_DER,
    ))
}

fn td_measurements(r: &dcap_qvl::quote::TDReport10) -> BTreeMap<String, String> {
    hex_map(&[
        ("mr_td", &r.mr_td),
        ("rtmr0", &r.rt_mr0),
        ("rtmr1", &r.rt_mr1),
        ("rtmr2", &r.rt_mr2),
        ("rtmr3", &r.rt_mr3),
        ("mr_seam", &r.mr_seam),
        ("mr_config_id", &r.mr_config_id),
        ("mr_owner", &r.mr_owner),
        ("mr_owner_config", &r.mr_owner_config),
    ])
}
