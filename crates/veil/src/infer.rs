//! `veil infer`, `veil attestation`, and the trust flags of `veil verify`: the user's
//! side of the gateway.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use veil_gateway::{ClientError, GatewayClient};

/// `veil infer` arguments.
#[derive(Args)]
pub struct InferArgs {
    /// The gateway's URL (`veil up` prints it).
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    pub gateway: String,
    /// Your wallet key (hex secp256k1, mode 0600; `veil chain keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// The token whose data to run on (decimal).
    #[arg(long)]
    pub token: veil_protocol::TokenId,
    /// The model's name or weights root.
    #[arg(long)]
    pub model: String,
    /// Record ids in the token's data, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub ids: Vec<String>,
    /// Write the receipt here.
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// How long the signed request stays valid, seconds.
    #[arg(long, default_value_t = 120)]
    pub ttl: u64,
}

/// Trust flags for evidence: which roots, which policy, which measurements.
pub use veil_stack::trust::TrustFiles as TrustArgs;

/// Run `veil infer`: print the output; write the receipt when asked.
pub fn infer(args: InferArgs) -> Result<()> {
    let signer = veil_stack::keys::read_wallet_key(&args.key)?;
    let rt = crate::runtime()?;
    let answer = rt.block_on(async {
        let client = GatewayClient::new(&args.gateway);
        let body = client
            .sign(
                &signer,
                args.token.value(),
                &args.model,
                serde_json::json!({ "ids": args.ids }),
                args.ttl,
                crate::unix_now(),
            )
            .await?;
        client.infer(&body).await
    });
    let answer = answer.map_err(refused)?;
    if let Some(path) = &args.receipt {
        veil_fs::write_atomic(path, answer.receipt.to_json_pretty().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    outln!("{}", serde_json::to_string_pretty(&answer.output)?);
    Ok(())
}

/// A gateway's refusal as one line: its detail and code.
pub fn refused(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Refused(p) => anyhow::anyhow!("refused: {} ({})", p.detail, p.code),
        e => e.into(),
    }
}

/// `veil attestation` arguments.
#[derive(Args)]
pub struct AttestationArgs {
    /// The gateway's URL.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    pub gateway: String,
    /// Evidence trust.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// Challenge a gateway's worker with a fresh nonce and verify its answer; print the claims.
pub fn attestation(args: AttestationArgs) -> Result<()> {
    let trust = args.trust.load()?;
    let verified = crate::runtime()?
        .block_on(veil_stack::trust::challenge_gateway(&args.gateway, &trust, crate::unix_now))
        .context("asking for attestation")?;
    outln!("{}", serde_json::to_string_pretty(&verified)?);
    Ok(())
}

/// Receipts are a few KiB (a zk receipt carries its key and proof); far larger is not one.
const MAX_RECEIPT_BYTES: u64 = 16 << 20;

/// `veil verify RECEIPT [--inclusion F --log-key K [--anchored …]]`: a one-line
/// summary (and where the log holds it), or why it does not verify (exit 1).
pub fn verify(receipt: &Path, trust: &TrustArgs, log: &veil_stack::tlog::LogCheck) -> Result<()> {
    let bytes = veil_fs::read_limited(receipt, MAX_RECEIPT_BYTES)?;
    let v = veil_verify::verify(&bytes, &trust.load()?)
        .map_err(|e| anyhow::anyhow!("invalid receipt {}: {e} ({})", receipt.display(), e.code()))?;
    outln!("{}", v.summary());
    let lines = crate::runtime()?
        .block_on(log.run(&bytes, crate::unix_now))
        .context("the receipt is not in the log")?;
    for line in lines {
        outln!("{line}");
    }
    Ok(())
}
