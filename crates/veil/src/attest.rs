//! `veil attest verify`: check TEE evidence files as found (raw quotes, or a JSON
//! evidence envelope) and print the claims.

use anyhow::{Context, Result};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veil_stack::trust::EvidenceFiles;

/// `veil attest verify` arguments.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The evidence and what checks it.
    #[command(flatten)]
    pub files: EvidenceFiles,
    /// Verification time (RFC 3339); default now. Pin it to check archived evidence.
    #[arg(long)]
    pub at: Option<String>,
}

/// `veil attest verify`: the claims, or the refusal with its code (exit 1).
pub fn run(args: VerifyArgs) -> Result<()> {
    let now = match &args.at {
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .with_context(|| format!("--at {s:?} is not an RFC 3339 time"))?,
        None => OffsetDateTime::now_utc(),
    };
    let now = u64::try_from(now.unix_timestamp()).context("--at is before 1970")?;
    let claims =
        args.files.verify(now)?.map_err(|e| anyhow::anyhow!("attestation refused ({}): {e}", e.code()))?;
    outln!("{}", serde_json::to_string_pretty(&claims)?);
    Ok(())
}
