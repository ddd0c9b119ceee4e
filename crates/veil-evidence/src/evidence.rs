//! The evidence envelope and the one entry point that verifies any of it.

use serde::{Deserialize, Serialize};

use crate::binding::check_binding;
use crate::{AttestationError, Claims, Policy, RuntimeData, Tee};

/// Evidence as an enclave sends it: raw hardware bytes, never re-encoded, plus the
/// collateral to check them and the runtime data they claim to bind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Which TEE produced it.
    pub tee: Tee,
    /// The quote (Intel) or attestation report (AMD), hex.
    pub quote: String,
    /// Intel: the PCCS collateral object. AMD: the VCEK or VLEK certificate, DER as hex,
    /// or `{"vek": hex, "crl": hex}` to also check AMD's CRL.
    pub collateral: serde_json::Value,
    /// What report_data must commit to; required wherever keys are released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_data: Option<RuntimeData>,
    /// TDX: what the guest extended into its RTMRs, in order; verified by replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_log: Option<Vec<crate::TdxEvent>>,
}

/// The roots a verifier trusts. Vendor roots are the default; anything else must be
/// named here by the caller, and claims made under it say `dev_root`.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    /// Intel SGX root certificates (DER).
    pub intel_roots: Vec<Vec<u8>>,
    /// AMD product bundles (PEM: ASK, ARK, ASVK).
    pub amd_roots: Vec<Vec<u8>>,
}

impl TrustAnchors {
    /// Intel's and AMD's production roots, as pinned in this crate.
    pub fn vendor() -> Self {
        Self {
            intel_roots: vec![crate::intel_root_ca().to_vec()],
            amd_roots: crate::amd_roots().iter().map(|r| r.to_vec()).collect(),
        }
    }
}

fn unhex(s: &str, what: &str) -> Result<Vec<u8>, AttestationError> {
    hex::decode(s.trim_start_matches("0x"))
        .map_err(|e| AttestationError::Parse(format!("{what} is not hex: {e}")))
}

/// Verify evidence of any supported kind; when it carries runtime data, also check
/// that report_data is bound to exactly that data.
pub fn verify(
    evidence: &Evidence,
    anchors: &TrustAnchors,
    policy: &Policy,
    now: u64,
) -> Result<Claims, AttestationError> {
    let quote = unhex(&evidence.quote, "quote")?;
    let claims = match evidence.tee {
        Tee::Tdx | Tee::Sgx => {
            let collateral = serde_json::to_vec(&evidence.collateral)
                .map_err(|e| AttestationError::Parse(e.to_string()))?;
            let mut last = AttestationError::Chain("no Intel root is trusted".into());
            let mut verified = None;
            for root in &anchors.intel_roots {
                match crate::verify_intel_quote(&quote, &collateral, root, &policy.intel, now) {
                    Ok(c) => {
                        verified = Some(c);
                        break;
                    }
                    // Only a chain failure means "try the next root"; anything else is final.
                    Err(e @ AttestationError::Chain(_)) => last = e,
                    Err(e) => return Err(e),
                }
            }
            let claims = verified.ok_or(last)?;
            if claims.tee != evidence.tee {
                return Err(AttestationError::Parse(format!(
                    "evidence says {:?} but the quote is {:?}",
                    evidence.tee, claims.tee
                )));
            }
            claims
        }
        Tee::Snp => {
            // Either the VEK alone (hex), or `{"vek": hex, "crl": hex}` with AMD's CRL.
            let c = &evidence.collateral;
            let (vek, crl) = match (c.as_str(), c.get("vek").and_then(|v| v.as_str())) {
                (Some(vek), _) => (vek, None),
                (None, Some(vek)) => (vek, c.get("crl")),
                _ => {
                    return Err(AttestationError::Parse(
                        "SNP collateral must be the VEK certificate as hex, or {vek, crl}".into(),
                    ));
                }
            };
            let crl = crl
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| AttestationError::Parse("SNP collateral crl must be hex".into()))
                        .and_then(|h| unhex(h, "AMD CRL"))
                })
                .transpose()?;
            let roots: Vec<&[u8]> = anchors.amd_roots.iter().map(Vec::as_slice).collect();
            crate::verify_snp_report_with_crl(
                &quote,
                &unhex(vek, "VEK certificate")?,
                &roots,
                crl.as_deref(),
                &policy.snp,
                now,
            )?
        }
    };
    if let Some(rd) = &evidence.runtime_data {
        check_binding(&claims.report_data, rd)?;
    }
    let mut claims = claims;
    if let Some(events) = &evidence.event_log {
        crate::measurement::check_event_log(claims.tee, &claims.measurements, events)?;
        claims.event_log = events.clone();
    }
    Ok(claims)
}
