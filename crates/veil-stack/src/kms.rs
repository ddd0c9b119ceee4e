//! The key broker from its TOML configuration file: trust anchors, attestation
//! policy, release policy, master secret, audit log, and where authorizations are
//! read (a chain's INFT contract, or a list in the file for brokers without one).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use serde::Deserialize;
use veil_evidence::TrustAnchors;
use veil_kms::{
    Authorization, Authorizer, Broker, BrokerParts, ChainRef, KmsError, Limits, MasterSecret,
    PolicyListAuthorizer, ReleasePolicy,
};
use veil_ledger::ChainClient;
use veil_protocol::TokenId;

use crate::{Result, StackError};

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
    pub attestation: veil_evidence::Policy,
    /// Which measurements may receive which resources (deny by default).
    #[serde(default)]
    pub release: ReleasePolicy,
    /// Token id → users, for brokers without a ledger (ignored with `[ledger]`,
    /// and refused alongside it).
    #[serde(default)]
    pub authorizations: PolicyListAuthorizer,
    /// The chain whose INFT contract answers `isAuthorized(token, user)`.
    #[serde(default)]
    pub ledger: Option<LedgerConfig>,
    /// For brokers with `[authorizations]` instead of a ledger: the deployment (chain
    /// id and INFT contract) whose users' signed requests it verifies and whose
    /// tokens it keys. Without a ledger or this, no token key is released.
    #[serde(default)]
    pub deployment: Option<ChainRef>,
    /// The transparency log the release policy is published in before the broker
    /// acts on it (`veil kms serve` refuses to start if it cannot publish it).
    #[serde(default)]
    pub log: Option<crate::tlog::PublishTo>,
}

/// Where the broker reads authorizations on chain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// The node's JSON-RPC URL (`veil chain start`, anvil, a public chain).
    pub rpc: String,
    /// The contracts' addresses (JSON, as `veil chain init|deploy` write them).
    pub deployment: PathBuf,
}

/// `isAuthorized` on chain, read at the latest block, which the audit entry records.
pub struct LedgerAuthorizer {
    client: ChainClient<DynProvider>,
    runtime: tokio::runtime::Handle,
    source: String,
    chain: ChainRef,
}

impl LedgerAuthorizer {
    /// Answer from `client`'s INFT contract, waiting on the current runtime.
    pub fn new(client: ChainClient<DynProvider>) -> Self {
        let inft = client.deployment().inft;
        Self {
            source: format!("chain {} INFT {inft}", client.chain_id()),
            chain: ChainRef { chain_id: client.chain_id(), contract: inft.to_string() },
            client,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl LedgerAuthorizer {
    /// The chain and contract it reads.
    pub fn chain(&self) -> &ChainRef {
        &self.chain
    }
}

impl Authorizer for LedgerAuthorizer {
    fn is_authorized(&self, token: TokenId, user: &str) -> Result<Authorization, KmsError> {
        let refused = || KmsError::NotAuthorized { token_id: token.to_string(), user: user.to_owned() };
        let Ok(who) = user.parse::<Address>() else {
            return Err(refused());
        };
        // The broker decides on a blocking thread, so waiting on the runtime is safe.
        let (ok, block) = self
            .runtime
            .block_on(self.client.is_authorized(token.value(), who))
            .map_err(|e| KmsError::Ledger(e.to_string()))?;
        if !ok {
            return Err(refused());
        }
        // The data at the very block the authorization was read at.
        let data = self
            .runtime
            .block_on(self.client.intelligent_data_at(token.value(), block))
            .map_err(|e| KmsError::Ledger(e.to_string()))?;
        Ok(Authorization {
            source: self.source.clone(),
            block: Some(block),
            chain: Some(self.chain.clone()),
            data: data.iter().map(|d| veil_content::Root(d.data_hash.0)).collect(),
        })
    }
}

async fn ledger_authorizer(cfg: &LedgerConfig, base: &Path) -> Result<LedgerAuthorizer> {
    let deployment = crate::ledger::read_deployment(&base.join(&cfg.deployment))?;
    let url =
        cfg.rpc.parse().map_err(|_| StackError::Config(format!("ledger.rpc {} is not a URL", cfg.rpc)))?;
    let provider = ProviderBuilder::new().connect_http(url).erased();
    let client = ChainClient::connect(provider, deployment)
        .await
        .map_err(|e| StackError::Config(format!("ledger at {}: {e}", cfg.rpc)))?;
    Ok(LedgerAuthorizer::new(client))
}

/// A certificate file as DER, whether it is PEM or DER.
pub fn read_cert(path: &Path) -> Result<Vec<u8>> {
    let bytes = veil_fs::read_limited(path, 64 * 1024)?;
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
        .map_err(|_| StackError::Config(format!("{} is not a PEM certificate", path.display())))
}

/// Read and parse `config_path`, resolving the identity, master secret and audit
/// log paths against its directory.
pub fn read_config(config_path: &Path) -> Result<KmsConfig> {
    let text = std::fs::read_to_string(config_path)
        .map_err(StackError::io(format!("reading {}", config_path.display())))?;
    let mut cfg: KmsConfig =
        toml::from_str(&text).map_err(|e| StackError::Config(format!("{}: {e}", config_path.display())))?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    for p in [&mut cfg.identity, &mut cfg.master_secret, &mut cfg.audit_log] {
        *p = base.join(&*p);
    }
    if let Some(log) = &mut cfg.log {
        log.token_file = base.join(&log.token_file);
    }
    Ok(cfg)
}

/// Read `config_path` and build the broker. `ledger`, when given, is the chain the
/// caller already holds (`veil up`), and the file must then name none.
pub async fn load(config_path: &Path, ledger: Option<LedgerAuthorizer>) -> Result<(KmsConfig, Broker)> {
    let cfg = read_config(config_path)?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    let identity = crate::keys::read_identity(&cfg.identity)?;
    let mut anchors = TrustAnchors::vendor();
    for root in &cfg.dev_roots {
        let path = base.join(root);
        let der =
            read_cert(&path).map_err(|e| StackError::Config(format!("dev root {}: {e}", path.display())))?;
        // Dev roots are Intel-shaped (the simulator's PKI).
        anchors.intel_roots.push(der);
    }
    if cfg.limits.session_ttl_secs >= veil_evidence::MAX_EVIDENCE_AGE_SECS {
        return Err(StackError::Config(format!(
            "limits.session_ttl_secs must be below {} (receipts must fall within that long after their evidence)",
            veil_evidence::MAX_EVIDENCE_AGE_SECS
        )));
    }
    if cfg.limits.max_outstanding == 0 {
        return Err(StackError::Config("limits.max_outstanding must be at least 1".into()));
    }
    let master = MasterSecret::open_or_create(&cfg.master_secret, &identity)
        .map_err(|e| StackError::Config(format!("master secret {}: {e}", cfg.master_secret.display())))?;
    let audit = veil_audit::AuditLog::open(&cfg.audit_log)
        .map_err(|e| StackError::Config(format!("audit log {}: {e}", cfg.audit_log.display())))?;
    let (authorizer, deployment): (Box<dyn Authorizer>, Option<ChainRef>) = match (&cfg.ledger, ledger) {
        (_, Some(_))
            if cfg.ledger.is_some() || !cfg.authorizations.0.is_empty() || cfg.deployment.is_some() =>
        {
            return Err(StackError::Config(
                "this broker reads the ledger it runs beside: remove [ledger], [authorizations] and [deployment]"
                    .into(),
            ));
        }
        (_, Some(l)) => {
            let chain = l.chain().clone();
            (Box::new(l), Some(chain))
        }
        (Some(_), None) if !cfg.authorizations.0.is_empty() || cfg.deployment.is_some() => {
            return Err(StackError::Config(
                "[ledger] names the deployment and answers for it, and authorizations come from one place: remove [authorizations] and [deployment]".into(),
            ));
        }
        (Some(ledger), None) => {
            let l = ledger_authorizer(ledger, base).await?;
            let chain = l.chain().clone();
            (Box::new(l), Some(chain))
        }
        (None, None) => {
            if let Some(d) = &cfg.deployment
                && d.domain().is_none()
            {
                return Err(StackError::Config(format!(
                    "[deployment] contract {:?} is not an address",
                    d.contract
                )));
            }
            (Box::new(cfg.authorizations.clone()), cfg.deployment.clone())
        }
    };
    let broker = Broker::new(BrokerParts {
        anchors,
        attestation: cfg.attestation.clone(),
        release: cfg.release.clone(),
        authorizer,
        master,
        audit,
        limits: cfg.limits,
        identity,
        deployment,
    })
    .map_err(|e| StackError::Config(format!("starting the broker: {e}")))?;
    if broker.trusts_dev_roots() {
        tracing::warn!(
            roots = ?cfg.dev_roots,
            "trusting DEVELOPMENT roots: simulated TEEs will be accepted and every grant says dev_root: true; never do this in production"
        );
    }
    Ok((cfg, broker))
}

/// Policy before effect, for a broker run on its own (`veil kms serve`): with `[log]`,
/// its release policy is provably in the log before this returns, and its audit
/// head is logged every minute while it grows (a task for the life of the process).
pub async fn publish_before_serving(cfg: &KmsConfig, config_path: &Path) -> Result<()> {
    let Some(to) = &cfg.log else {
        tracing::warn!("no [log] in the configuration: the release policy is not published");
        return Ok(());
    };
    let marker = cfg.audit_log.with_extension("policy.inclusion");
    let (index, audit_len) = crate::tlog::publish_policy(to, config_path, &cfg.audit_log, &marker).await?;
    tracing::info!(log = %to.url, index, "release policy published");
    let (sink, audit_log) = (crate::tlog::AuditSink::Remote(to.clone()), cfg.audit_log.clone());
    tokio::spawn(async move {
        // Never sent: the task lives as long as the process.
        let (_keep, stop) = tokio::sync::watch::channel(false);
        crate::tlog::audit_heads_periodically(sink, audit_log, audit_len, stop).await;
    });
    Ok(())
}
