//! Whose evidence and which keys a verifier trusts, read from the files it names
//! (`veil verify`, `veil attestation`, `veil attest verify`).

use std::path::{Path, PathBuf};

use veil_evidence::{Policy, TrustAnchors};
use veil_verify::{Trust, ZkPins};

use crate::{Result, StackError};

/// The files and choices a verifier's trust is made of (also the trust flags of
/// `veil verify`, `veil attestation` and `veil prover add-verifier`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrustFiles {
    /// Also trust this development root (PEM or DER; `veil up` prints its path).
    /// Only for simulated TEEs.
    #[arg(long = "dev-root")]
    pub dev_roots: Vec<PathBuf>,
    /// Attestation policy (TOML); default: only fully up-to-date platforms.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Accept only these measurements (hex), comma-separated.
    #[arg(long = "measurement", value_delimiter = ',')]
    pub measurements: Vec<String>,
    /// Accept any measurement the evidence verifies (the output names it) instead of
    /// listing the ones you accept.
    #[arg(long, conflicts_with = "measurements")]
    pub any_measurement: bool,
    /// Check zk receipts under these verifying keys: a `vk_hash` (0x…) or a
    /// verification_key.json; a key you did not pin proves nothing.
    #[arg(long = "zk-key")]
    pub zk_keys: Vec<String>,
    /// Pins for zk receipts from a file (`veil zk pins` writes one): verifying keys and
    /// which model commitment stands for which weights root.
    #[arg(long)]
    pub zk_pins: Vec<PathBuf>,
    /// Accept receipts whose only evidence is their signature (mode plain, fhe, fl).
    #[arg(long)]
    pub accept_unattested: bool,
}

impl TrustFiles {
    /// The trust these files describe.
    pub fn load(&self) -> Result<Trust> {
        let mut anchors = TrustAnchors::vendor();
        for p in &self.dev_roots {
            let cert = crate::kms::read_cert(p)
                .map_err(|e| StackError::Config(format!("dev root {}: {e}", p.display())))?;
            anchors.intel_roots.push(cert);
        }
        let mut zk = ZkPins::default();
        for p in &self.zk_pins {
            zk.extend(veil_fs::read_json(p, 1 << 20, "a zk pins file")?);
        }
        for k in &self.zk_keys {
            zk.keys.push(match k.parse() {
                Ok(root) => root,
                Err(_) => {
                    let bad =
                        |e: &dyn std::fmt::Display| StackError::Config(format!("verifying key {k}: {e}"));
                    let vk: serde_json::Value =
                        serde_json::from_slice(&veil_fs::read_limited(k.as_ref(), 1 << 20)?)
                            .map_err(|e| bad(&e))?;
                    veil_zk::snarkjs::vk_from_json(&vk).map_err(|e| bad(&e))?;
                    veil_zk::snarkjs::vk_hash(&vk)?
                }
            });
        }
        Ok(Trust {
            anchors,
            policy: read_policy(self.policy.as_deref())?,
            measurements: self.measurements.clone(),
            any_measurement: self.any_measurement,
            zk,
            accept_unattested: self.accept_unattested,
        })
    }
}

/// What a stack's own parties trust: the vendors' roots and the stack's dev root, and
/// exactly the stack's worker measurement.
pub fn of_stack(dev_root: &Path, measurement: &str) -> Result<Trust> {
    let mut trust = Trust::default();
    trust.anchors.intel_roots.push(crate::kms::read_cert(dev_root)?);
    trust.measurements = vec![measurement.to_owned()];
    Ok(trust)
}

/// An attestation policy file (TOML), or the default: only fully up-to-date platforms.
pub fn read_policy(path: Option<&Path>) -> Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let bytes = veil_fs::read_limited(path, 1 << 20)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| StackError::Config(format!("policy {} is not UTF-8", path.display())))?;
    toml::from_str(text).map_err(|e| StackError::Config(format!("policy {}: {e}", path.display())))
}

/// Challenge the gateway at `url` to attest one of its workers under a fresh nonce,
/// verify the answer under `trust`, and return what was verified: the nonce, the
/// measurement, the keys the evidence binds and the claims.
pub async fn challenge_gateway(url: &str, trust: &Trust, clock: fn() -> u64) -> Result<serde_json::Value> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| StackError::Config(format!("random: {e}")))?;
    let nonce = hex::encode(raw);
    let answer = veil_gateway::GatewayClient::new(url).attestation(&nonce).await?;
    let claims = veil_verify::verify_attestation_answer(
        &answer.evidence,
        &nonce,
        veil_protocol::ATTESTATION_PURPOSE,
        trust,
        clock(),
    )
    .map_err(|e| StackError::Config(format!("{e} ({})", e.code())))?;
    let measured = claims.measurement_id.clone();
    let keys = answer.evidence.runtime_data.map(|rd| rd.public_keys).unwrap_or_default();
    Ok(serde_json::json!({
        "verified": true, "nonce": nonce, "measurement": measured, "keys": keys, "claims": claims,
    }))
}

/// Evidence files are small; this bounds what a hostile file costs.
const MAX_EVIDENCE_BYTES: u64 = 1 << 20;

/// Evidence as found on disk, with what raw evidence needs besides itself (also the
/// flags of `veil attest verify`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EvidenceFiles {
    /// The evidence file: a raw Intel quote, a raw SEV-SNP report, or a JSON evidence
    /// envelope.
    #[arg(long)]
    pub evidence: PathBuf,
    /// Collateral (Intel: the PCCS collateral JSON; AMD: the VCEK or VLEK, DER). An
    /// envelope carries its own.
    #[arg(long)]
    pub collateral: Option<PathBuf>,
    /// AMD's CRL for the product (DER, from KDS), checked with a raw SEV-SNP report.
    #[arg(long)]
    pub crl: Option<PathBuf>,
    /// Policy file (TOML); default: only fully up-to-date platforms.
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

impl EvidenceFiles {
    /// Verify the evidence at `now` under the vendors' roots. `Ok(Err(_))` is the
    /// evidence refused; `Err(_)` files that are unusable or do not go together.
    pub fn verify(
        &self,
        now: u64,
    ) -> Result<std::result::Result<veil_evidence::Claims, veil_evidence::AttestationError>> {
        use veil_evidence::Found;
        let policy = read_policy(self.policy.as_deref())?;
        let collateral = |kind: &str, what: &str| match &self.collateral {
            Some(path) => Ok(veil_fs::read_limited(path, MAX_EVIDENCE_BYTES)?),
            None => Err(StackError::Config(format!("{kind} needs --collateral FILE ({what})"))),
        };
        let found = match veil_evidence::classify(veil_fs::read_limited(&self.evidence, MAX_EVIDENCE_BYTES)?)
        {
            Ok(found) => found,
            Err(unrecognised) => return Ok(Err(unrecognised)),
        };
        if self.crl.is_some() && !matches!(found, Found::SnpReport(_)) {
            return Err(StackError::Config(
                "--crl is AMD's CRL for a raw SEV-SNP report (an envelope carries it in its collateral)"
                    .into(),
            ));
        }
        Ok(match found {
            Found::Envelope(e) => {
                if self.collateral.is_some() {
                    return Err(StackError::Config(
                        "an evidence envelope carries its own collateral; drop --collateral".into(),
                    ));
                }
                veil_evidence::verify(&e, &TrustAnchors::vendor(), &policy, now)
            }
            Found::IntelQuote(quote) => veil_evidence::verify_intel_quote(
                &quote,
                &collateral("an Intel quote", "the PCCS collateral JSON")?,
                veil_evidence::intel_root_ca(),
                &policy.intel,
                now,
            ),
            Found::SnpReport(report) => {
                let vek = collateral("an SEV-SNP report", "the VCEK or VLEK certificate, DER")?;
                let crl = match &self.crl {
                    Some(p) => Some(veil_fs::read_limited(p, MAX_EVIDENCE_BYTES)?),
                    None => None,
                };
                veil_evidence::verify_snp_report_with_crl(
                    &report,
                    &vek,
                    veil_evidence::amd_roots(),
                    crl.as_deref(),
                    &policy.snp,
                    now,
                )
            }
        })
    }
}
