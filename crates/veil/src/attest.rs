//! `veil attest verify`: check TEE evidence files as found (raw quotes, or a JSON
//! evidence envelope) and print the claims.

use std::path::PathBuf;

use anyhow::{Context, Result};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veil_stack::trust::EvidenceFiles;

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

/// `veil attest verify`: the claims, or the refusal with its code (exit 1).
pub fn run(args: VerifyArgs) -> Result<()> {
    let now = match &args.at {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .with_context(|| format!("--at {s:?} is not an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    let now = u64::try_from(now.unix_timestamp()).context("--at is before 1970")?;
    let VerifyArgs { evidence, collateral, crl, policy, .. } = args;
    let files = EvidenceFiles { evidence, collateral, crl, policy };
    let claims =
        files.verify(now)?.map_err(|e| anyhow::anyhow!("attestation refused ({}): {e}", e.code()))?;
    outln!("{}", serde_json::to_string_pretty(&claims)?);
    Ok(())
}
