//! `veil infer`, `veil attestation`, and the trust flags of `veil verify`: the user's
//! side of the gateway.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use veil_evidence::TrustAnchors;
use veil_gateway::GatewayClient;

use crate::io;

/// `veil infer` arguments.
#[derive(Args)]
pub struct InferArgs {
    /// The gateway's URL (`veil up` prints it).
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    pub gateway: String,
    /// Your wallet key (hex secp256k1, mode 0600; `veil chain keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// The token whose data to run on.
    #[arg(long)]
    pub token: String,
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
#[derive(Args, Clone, Default)]
pub struct TrustArgs {
    /// Also trust this development root (PEM or DER; `veil up` prints its path).
    /// Only for simulated TEEs.
    #[arg(long)]
    pub dev_root: Vec<PathBuf>,
    /// Attestation policy (TOML); default: only fully up-to-date platforms.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Accept only these measurements (hex), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub measurement: Vec<String>,
    /// Accept any measurement the evidence verifies (the output names it) instead of
    /// listing the ones you accept.
    #[arg(long, conflicts_with = "measurement")]
    pub any_measurement: bool,
    /// Check zk receipts under these verifying keys: a `vk_hash` (0x…) or a
    /// verification_key.json; a key you did not pin proves nothing.
    #[arg(long)]
    pub zk_key: Vec<String>,
    /// Pins for zk receipts from a file (`veil zk pins` writes one): verifying keys and
    /// which model commitment stands for which weights root.
    #[arg(long)]
    pub zk_pins: Vec<PathBuf>,
    /// Accept receipts whose only evidence is their signature (mode plain, fhe, fl).
    #[arg(long)]
    pub accept_unattested: bool,
}

impl TrustArgs {
    /// The trust these flags describe.
    pub fn trust(&self) -> Result<veil_verify::Trust> {
        let mut anchors = TrustAnchors::vendor();
        for p in &self.dev_root {
            anchors
                .intel_roots
                .push(veil_stack::kms::read_cert(p).with_context(|| format!("dev root {}", p.display()))?);
        }
        let policy = match &self.policy {
            Some(p) => toml::from_str(&String::from_utf8_lossy(&io::read_limited(p, 1 << 20)?))
                .with_context(|| format!("policy {}", p.display()))?,
            None => veil_evidence::Policy::default(),
        };
        let mut zk = veil_verify::ZkPins::default();
        for p in &self.zk_pins {
            let pins: veil_verify::ZkPins = serde_json::from_slice(&io::read_limited(p, 1 << 20)?)
                .with_context(|| format!("zk pins {}", p.display()))?;
            zk.extend(pins);
        }
        for k in &self.zk_key {
            zk.keys.push(match k.parse() {
                Ok(root) => root,
                Err(_) => {
                    let vk: serde_json::Value =
                        serde_json::from_slice(&io::read_limited(k.as_ref(), 1 << 20)?)
                            .with_context(|| format!("verifying key {k}"))?;
                    veil_zk::snarkjs::vk_from_json(&vk).with_context(|| format!("verifying key {k}"))?;
                    veil_zk::snarkjs::vk_hash(&vk)?
                }
            });
        }
        Ok(veil_verify::Trust {
            anchors,
            policy,
            measurements: self.measurement.clone(),
            any_measurement: self.any_measurement,
            zk,
            accept_unattested: self.accept_unattested,
        })
    }
}

/// Run `veil infer`: print the output; write the receipt when asked.
pub fn infer(args: InferArgs) -> Result<()> {
    let signer = veil_stack::keys::read_wallet_key(&args.key)?;
    let token: veil_protocol::TokenId = args.token.parse()?;
    let rt = crate::runtime()?;
    let answer = rt.block_on(async {
        let client = GatewayClient::new(&args.gateway);
        let body = client
            .sign(
                &signer,
                token.value(),
                &args.model,
                serde_json::json!({ "ids": args.ids }),
                args.ttl,
                crate::unix_now(),
            )
            .await?;
        client.infer(&body).await
    });
    let answer = match answer {
        Ok(a) => a,
        Err(veil_gateway::ClientError::Refused(p)) => bail!("inference refused: {} ({})", p.detail, p.code),
        Err(e) => return Err(e.into()),
    };
    if let Some(path) = &args.receipt {
        veil_fs::write_atomic(path, answer.receipt.to_json_pretty().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    outln!("{}", serde_json::to_string_pretty(&answer.output)?);
    Ok(())
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
    let trust = args.trust.trust()?;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let nonce = hex::encode(raw);
    let rt = crate::runtime()?;
    let answer = rt
        .block_on(GatewayClient::new(&args.gateway).attestation(&nonce))
        .context("asking for attestation")?;
    let claims = veil_verify::verify_attestation_answer(
        &answer.evidence,
        &nonce,
        veil_protocol::ATTESTATION_PURPOSE,
        &trust,
        crate::unix_now(),
    )
    .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
    let measured = claims.primary_measurement().unwrap_or_default().to_owned();
    let keys = answer
        .evidence
        .runtime_data
        .map(|rd| rd.public_keys)
        .unwrap_or_default();
    outln!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "verified": true, "nonce": nonce, "measurement": measured, "keys": keys, "claims": claims,
        }))?
    );
    Ok(())
}

/// Receipts are a few KiB (a zk receipt carries its key and proof); far larger is not one.
const MAX_RECEIPT_BYTES: u64 = 16 << 20;

/// `veil verify RECEIPT`: a one-line summary, or why it does not verify (exit 1).
pub fn verify(receipt: &std::path::Path, trust: &TrustArgs) -> Result<std::process::ExitCode> {
    let bytes = io::read_limited(receipt, MAX_RECEIPT_BYTES)?;
    match veil_verify::verify(&bytes, &trust.trust()?) {
        Ok(v) => outln!("{}", v.summary()),
        Err(e) => {
            eprintln!("veil: invalid receipt {}: {e} ({})", receipt.display(), e.code());
            return Ok(std::process::ExitCode::FAILURE);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
