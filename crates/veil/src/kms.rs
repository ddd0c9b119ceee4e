//! `veil kms serve`: the key broker's configuration file, wired to the broker.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use veil_attest::TrustAnchors;
use veil_kms::{Broker, BrokerParts, Limits, MasterSecret, PolicyListAuthorizer, ReleasePolicy};

use crate::io;

/// The broker's TOML configuration. Relative paths are relative to the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The broker's identity file (its master secret is sealed to it).
    pub identity: PathBuf,
    /// The sealed master secret; created on first start.
    pub master_secret: PathBuf,
    /// The hash-chained audit log.
    pub audit_log: PathBuf,
    /// Development roots (DER or PEM) trusted besides the vendors'. Only for
    /// simulated TEEs; never in production.
    #[serde(default)]
    pub dev_roots: Vec<PathBuf>,
    /// Lifetimes and bounds.
    #[serde(default)]
    pub limits: Limits,
    /// What evidence must satisfy.
    #[serde(default)]
    pub attestation: veil_attest::Policy,
    /// Which measurements may receive which resources (deny by default).
    #[serde(default)]
    pub release: ReleasePolicy,
    /// Token id → users, until the ledger answers `isAuthorized`.
    #[serde(default)]
    pub authorizations: PolicyListAuthorizer,
}

/// A certificate file as DER, whether it is PEM or DER.
pub fn read_cert(path: &Path) -> Result<Vec<u8>> {
    let bytes = io::read_limited(path, 64 * 1024)?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Ok(bytes);
    }
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .with_context(|| format!("{} is not a PEM certificate", path.display()))
}

fn load(config_path: &Path) -> Result<(KmsConfig, Broker)> {
    let text =
        std::fs::read_to_string(config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let mut cfg: KmsConfig = toml::from_str(&text).with_context(|| format!("{}", config_path.display()))?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    for p in [&mut cfg.identity, &mut cfg.master_secret, &mut cfg.audit_log] {
        *p = base.join(&*p);
    }
    let identity = io::read_identity(&cfg.identity)?;
    let mut anchors = TrustAnchors::vendor();
    for root in &cfg.dev_roots {
        let path = base.join(root);
        let der = read_cert(&path).with_context(|| format!("dev root {}", path.display()))?;
        // Dev roots are Intel-shaped (the simulator's PKI).
        anchors.intel_roots.push(der);
    }
    if cfg.limits.max_outstanding == 0 {
        bail!("limits.max_outstanding must be at least 1");
    }
    let master = MasterSecret::open_or_create(&cfg.master_secret, &identity)
        .with_context(|| format!("master secret {}", cfg.master_secret.display()))?;
    let audit = veil_audit::AuditLog::open(&cfg.audit_log)
        .with_context(|| format!("audit log {}", cfg.audit_log.display()))?;
    let broker = Broker::new(BrokerParts {
        anchors,
        attestation: cfg.attestation.clone(),
        release: cfg.release.clone(),
        authorizer: Box::new(cfg.authorizations.clone()),
        master,
        audit,
        limits: cfg.limits,
    });
    Ok((cfg, broker))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Run the broker until interrupted; prints `listening on http://ADDR` first.
pub fn serve(config_path: &Path) -> Result<()> {
    let (cfg, broker) = load(config_path)?;
    if broker.trusts_dev_roots() {
        tracing::warn!(
            roots = ?cfg.dev_roots,
            "trusting DEVELOPMENT roots: simulated TEEs will be accepted and every grant says dev_root: true; never do this in production"
        );
    }
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("listening on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        outln!("listening on http://{addr}");
        tracing::info!(%addr, audit_log = %cfg.audit_log.display(), "key broker started");
        let app = veil_kms_http::router(Arc::new(broker), now);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
