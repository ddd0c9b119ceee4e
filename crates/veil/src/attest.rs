//! `veil attest verify`: check TEE evidence files as found (raw quotes, or a JSON
//! evidence envelope) and print the claims.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veil_evidence::{AttestationError, Claims, Policy};

/// Evidence files are small; this bounds what a hostile file costs.
const MAX_EVIDENCE_BYTES: u64 = 1 << 20;

/// What kind of evidence a file holds, judged from its bytes.
enum Kind {
    Envelope(Box<veil_evidence::Evidence>),
    IntelQuote(Vec<u8>),
    SnpReport(Vec<u8>),
}

/// SEV-SNP attestation reports are exactly 1184 bytes (versions 2 to 5).
fn looks_like_snp_report(b: &[u8]) -> bool {
    b.len() == 1184 && matches!(u32::from_le_bytes([b[0], b[1], b[2], b[3]]), 2..=5)
}

/// An Intel DCAP quote starts with version 3, 4 or 5, attestation key type 2
/// (ECDSA P-256) and TEE type 0 (SGX) or 0x81 (TDX), all little-endian.
fn looks_like_intel_quote(b: &[u8]) -> bool {
    b.len() >= 48
        && matches!(u16::from_le_bytes([b[0], b[1]]), 3..=5)
        && u16::from_le_bytes([b[2], b[3]]) == 2
        && matches!(u32::from_le_bytes([b[4], b[5], b[6], b[7]]), 0 | 0x81)
}

fn classify(bytes: Vec<u8>) -> Result<Kind> {
    if bytes.trim_ascii_start().starts_with(b"{") {
        let e = serde_json::from_slice(&bytes).context("evidence envelope")?;
        return Ok(Kind::Envelope(Box::new(e)));
    }
    // Evidence is often shipped as hex text.
    let decoded = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| hex::decode(t.trim().trim_start_matches("0x")).ok());
    for b in [Some(bytes), decoded].into_iter().flatten() {
        if looks_like_intel_quote(&b) {
            return Ok(Kind::IntelQuote(b));
        }
        if looks_like_snp_report(&b) {
            return Ok(Kind::SnpReport(b));
        }
    }
    bail!("unrecognised evidence: neither an Intel DCAP quote nor an AMD SEV-SNP report (raw or hex)")
}

pub struct VerifyArgs {
    pub evidence: PathBuf,
    pub collateral: Option<PathBuf>,
    pub at: Option<String>,
    pub policy: Option<PathBuf>,
    pub crl: Option<PathBuf>,
}

fn load_policy(path: Option<&Path>) -> Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text = String::from_utf8(crate::io::read_limited(path, 1 << 20)?)
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    toml::from_str(&text).with_context(|| format!("policy {}", path.display()))
}

/// The `--collateral` file that raw evidence of `kind` needs.
fn collateral(args: &VerifyArgs, kind: &str, what: &str) -> Result<Vec<u8>> {
    let Some(path) = &args.collateral else {
        bail!("{kind} needs --collateral FILE ({what})");
    };
    crate::io::read_limited(path, MAX_EVIDENCE_BYTES)
}

/// Verify; `Ok(Err(_))` is a refusal (exit 1 with its code), `Err(_)` a usage problem.
pub fn verify(args: &VerifyArgs) -> Result<std::result::Result<Claims, AttestationError>> {
    let now = match &args.at {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .with_context(|| format!("--at {s:?} is not an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    let now = u64::try_from(now.unix_timestamp()).context("--at is before 1970")?;
    let policy = load_policy(args.policy.as_deref())?;
    let kind = classify(crate::io::read_limited(&args.evidence, MAX_EVIDENCE_BYTES)?)?;
    if args.crl.is_some() && !matches!(kind, Kind::SnpReport(_)) {
        bail!("--crl is AMD's CRL for a raw SEV-SNP report (an envelope carries it in its collateral)");
    }
    match kind {
        Kind::Envelope(e) => {
            if args.collateral.is_some() {
                bail!("an evidence envelope carries its own collateral; drop --collateral");
            }
            Ok(veil_evidence::verify(
                &e,
                &veil_evidence::TrustAnchors::vendor(),
                &policy,
                now,
            ))
        }
        Kind::IntelQuote(quote) => {
            let collateral = collateral(args, "an Intel quote", "the PCCS collateral JSON")?;
            Ok(veil_evidence::verify_intel_quote(
                &quote,
                &collateral,
                veil_evidence::intel_root_ca(),
                &policy.intel,
                now,
            ))
        }
        Kind::SnpReport(report) => {
            let vek = collateral(args, "an SEV-SNP report", "the VCEK or VLEK certificate, DER")?;
            let crl = args
                .crl
                .as_deref()
                .map(|p| crate::io::read_limited(p, MAX_EVIDENCE_BYTES))
                .transpose()?;
            Ok(veil_evidence::verify_snp_report_with_crl(
                &report,
                &vek,
                veil_evidence::amd_roots(),
                crl.as_deref(),
                &policy.snp,
                now,
            ))
        }
    }
}
