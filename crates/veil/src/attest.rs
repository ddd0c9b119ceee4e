//! `veil attest verify`: check TEE evidence files as found (raw quotes, or a JSON
//! evidence envelope) and print the claims.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veil_evidence::{AttestationError, Claims, Found};

/// Evidence files are small; this bounds what a hostile file costs.
const MAX_EVIDENCE_BYTES: u64 = 1 << 20;

/// `veil attest verify` arguments.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The evidence file.
    #[arg(long)]
    pub evidence: PathBuf,
    /// Collateral (Intel: the PCCS collateral JSON; AMD: the VCEK or VLEK, DER).
    #[arg(long)]
    pub collateral: Option<PathBuf>,
    /// Verification time (RFC 3339); default now. Pin it to check archived evidence.
    #[arg(long)]
    pub at: Option<String>,
    /// Policy file (TOML); default: only fully up-to-date platforms.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// AMD's CRL for the product (DER, from KDS), checked with a raw SEV-SNP report.
    #[arg(long)]
    pub crl: Option<PathBuf>,
}

/// The `--collateral` file that raw evidence of `kind` needs.
fn collateral(args: &VerifyArgs, kind: &str, what: &str) -> Result<Vec<u8>> {
    let Some(path) = &args.collateral else {
        bail!("{kind} needs --collateral FILE ({what})");
    };
    Ok(veil_fs::read_limited(path, MAX_EVIDENCE_BYTES)?)
}

/// Verify; `Ok(Err(_))` is a refusal (exit 1 with its code), `Err(_)` a usage problem.
pub fn verify(args: &VerifyArgs) -> Result<std::result::Result<Claims, AttestationError>> {
    let now = match &args.at {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .with_context(|| format!("--at {s:?} is not an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    let now = u64::try_from(now.unix_timestamp()).context("--at is before 1970")?;
    let policy = veil_stack::trust::read_policy(args.policy.as_deref())?;
    let kind = veil_evidence::classify(veil_fs::read_limited(&args.evidence, MAX_EVIDENCE_BYTES)?)?;
    if args.crl.is_some() && !matches!(kind, Found::SnpReport(_)) {
        bail!("--crl is AMD's CRL for a raw SEV-SNP report (an envelope carries it in its collateral)");
    }
    match kind {
        Found::Envelope(e) => {
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
        Found::IntelQuote(quote) => {
            let collateral = collateral(args, "an Intel quote", "the PCCS collateral JSON")?;
            Ok(veil_evidence::verify_intel_quote(
                &quote,
                &collateral,
                veil_evidence::intel_root_ca(),
                &policy.intel,
                now,
            ))
        }
        Found::SnpReport(report) => {
            let vek = collateral(args, "an SEV-SNP report", "the VCEK or VLEK certificate, DER")?;
            let crl = args
                .crl
                .as_deref()
                .map(|p| veil_fs::read_limited(p, MAX_EVIDENCE_BYTES))
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

/// `veil attest verify`: the claims, or the refusal with its code (exit 1).
pub fn run(args: &VerifyArgs) -> Result<std::process::ExitCode> {
    match verify(args)? {
        Ok(claims) => outln!("{}", serde_json::to_string_pretty(&claims)?),
        Err(e) => {
            eprintln!("veil: attestation refused ({}): {e}", e.code());
            return Ok(std::process::ExitCode::FAILURE);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
