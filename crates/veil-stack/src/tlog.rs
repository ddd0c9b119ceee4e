//! The transparency log role: its key file, the log over a directory, and the
//! checks `veil verify --inclusion` and `veil log verify` make.

use std::path::Path;
use std::sync::Arc;

use veil_protocol::Inclusion;
use veil_tlog::{Admission, Checkpoint, Log, LogHash, LogOptions, LogSigner, LogVerifier, TlogError};
use veil_tlog_http::LogService;
use zeroize::Zeroizing;

use crate::{Result, StackError};

/// The origin (and key name) of a deployment's log: it names the chain and the
/// contract its checkpoints are anchored in, so a checkpoint cannot pass for another
/// deployment's.
pub fn origin(chain_id: u64, anchor: alloy::primitives::Address) -> String {
    format!("veil.local/log/{chain_id}/{anchor:#x}")
}

/// Write a new log key named `name` to `out` (0600, never overwriting); the public
/// verifier key.
pub fn new_key(out: &Path, name: &str) -> Result<String> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).map_err(|e| StackError::Config(format!("random: {e}")))?;
    let (skey, vkey) = veil_tlog::generate_key(name, &seed)?;
    crate::keys::write_new_secret(out, format!("{}\n", skey.as_str()).as_bytes())?;
    Ok(vkey)
}

/// Read a log key file (it must be private).
pub fn read_key(path: &Path) -> Result<LogSigner> {
    veil_fs::check_private(path)?;
    let bytes = Zeroizing::new(veil_fs::read_limited(path, 4096)?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| StackError::Config(format!("{} is not a log key", path.display())))?;
    LogSigner::from_encoded(text).map_err(|e| StackError::Config(format!("{}: {e}", path.display())))
}

/// The log in `dir`, signing with the key in `key`.
pub fn open(dir: &Path, key: &Path, clock: fn() -> u64) -> Result<Arc<Log>> {
    let signer = read_key(key)?;
    Ok(Arc::new(Log::open(dir, signer, clock, LogOptions::default())?))
}

/// The log's HTTP service with the default admission window and rate limit,
/// taking declarations from the holder of the token whose digest is `declare`.
pub fn service(log: Arc<Log>, clock: fn() -> u64, declare: Option<[u8; 32]>) -> LogService {
    LogService {
        log,
        clock,
        admission: Admission::default(),
        per_second: LOG_SUBMISSIONS_PER_SECOND,
        cosigned: Arc::new(veil_tlog_http::Cosigned::default()),
        declare_token: declare,
    }
}

/// Write a new declaration token to `out` (0600, never overwriting).
pub fn new_token(out: &Path) -> Result<()> {
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *raw).map_err(|e| StackError::Config(format!("random: {e}")))?;
    let token = Zeroizing::new(format!("{}\n", hex::encode(*raw)));
    crate::keys::write_new_secret(out, token.as_bytes())
}

/// The digest a log keeps of the declaration token in `path`.
pub fn token_digest(path: &Path) -> Result<[u8; 32]> {
    Ok(veil_tlog::token_digest(&read_token(path)?))
}

/// Read a declaration token file (it must be private).
pub fn read_token(path: &Path) -> Result<Zeroizing<String>> {
    veil_fs::check_private(path)?;
    let bytes = Zeroizing::new(veil_fs::read_limited(path, 1024)?);
    let token = std::str::from_utf8(&bytes)
        .ok()
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| StackError::Config(format!("{} holds no declaration token", path.display())))?;
    Ok(Zeroizing::new(token.to_owned()))
}

/// Receipts one client may submit per second: a gateway submits every receipt it
/// keeps, so this is the log's own throughput goal (docs/BENCHMARKS.md), not less.
pub const LOG_SUBMISSIONS_PER_SECOND: u32 = 20_000;

/// A verifier key given inline (`name+id+base64`) or as a file holding one.
pub fn verifier(key: &str) -> Result<LogVerifier> {
    let text = if key.contains('+') {
        key.to_owned()
    } else {
        let bytes = veil_fs::read_limited(Path::new(key), 4096)?;
        String::from_utf8(bytes).map_err(|_| StackError::Config(format!("{key} is not a log key")))?
    };
    Ok(LogVerifier::new(&text)?)
}

/// Check that `receipt` is in the log by `inclusion` under `log`: the checkpoint
/// signed by the log, the audit path from the receipt's entry to its root, and the
/// receipt's own time no later than the checkpoint's (a receipt cannot have been
/// logged before it was made).
pub fn check_receipt(receipt: &[u8], inclusion: &Inclusion, log: &LogVerifier) -> Result<Checkpoint> {
    let (entry, at) = veil_tlog::receipt_leaf(receipt)?;
    let leaf = veil_tlog::encode_entry(&entry)?;
    let (cp, _) = veil_tlog::check_inclusion(inclusion, &leaf, log)?;
    let skew = i64::try_from(Admission::default().max_skew_secs).unwrap_or(0);
    if at > i64::try_from(cp.time).unwrap_or(i64::MAX).saturating_add(skew) {
        return Err(StackError::Log(TlogError::EntryTime {
            created_at: at,
            now: cp.time,
            why: "the receipt claims a time after the checkpoint that includes it",
        }));
    }
    Ok(cp)
}

/// `veil verify`'s transparency-log checks (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct LogCheck {
    /// Also check the receipt's inclusion in a transparency log: the JSON that
    /// `GET /v1/receipts/{id}/inclusion` returns.
    #[arg(long, requires = "log_key")]
    pub inclusion: Option<std::path::PathBuf>,
    /// The log's public key (`name+id+base64`, or a file holding it).
    #[arg(long)]
    pub log_key: Option<String>,
    /// And check that the inclusion's checkpoint is consistent with the newest root
    /// anchored on chain (needs --log-url, --rpc and --deployment).
    #[arg(long, requires_all = ["inclusion", "log_url"])]
    pub anchored: bool,
    /// The log's base URL (for the consistency proof to the anchor).
    #[arg(long)]
    pub log_url: Option<String>,
    /// The chain the log is anchored on.
    #[command(flatten)]
    pub ledger: crate::ledger::LedgerTarget,
}

impl LogCheck {
    /// The checks asked for on `receipt`'s bytes: one line per check passed.
    pub async fn run(&self, receipt: &[u8], clock: fn() -> u64) -> Result<Vec<String>> {
        let (Some(path), Some(key)) = (&self.inclusion, &self.log_key) else {
            return Ok(Vec::new());
        };
        let inclusion: Inclusion = veil_fs::read_json(path, 1 << 20, "an inclusion proof")?;
        let log = verifier(key)?;
        let cp = check_receipt(receipt, &inclusion, &log)?;
        let mut lines = vec![format!(
            "logged: entry {} of {} in {} (checkpoint at {})",
            inclusion.index, cp.size, cp.origin, cp.time
        )];
        if self.anchored {
            let (Some(url), Some(_)) = (&self.log_url, &self.ledger.rpc) else {
                return Err(StackError::Config("--anchored needs --log-url, --rpc and --deployment".into()));
            };
            let ledger = self.ledger.connect(clock).await?;
            let (size, at) = check_against_anchor(&ledger.client, url, &cp).await?;
            lines.push(format!("anchored: consistent with the root of {size} entries anchored at {at}"));
        }
        Ok(lines)
    }
}

/// `veil log …`.
#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Make a log key: the private key file (0600, never overwritten) and, printed,
    /// the public verifier key others check checkpoints with.
    Keygen {
        /// The log's origin (no spaces or pluses), e.g. `example.com/log`.
        #[arg(long)]
        name: String,
        /// Where the private key goes.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Run a transparency log over a directory until interrupted.
    Serve {
        /// The log's directory (tiles and checkpoint; created on first use).
        #[arg(long)]
        dir: std::path::PathBuf,
        /// The log's private key file.
        #[arg(long)]
        key: std::path::PathBuf,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// A witness to ask for cosignatures of each new checkpoint (repeatable); the
        /// served checkpoint carries those it gave.
        #[arg(long)]
        witness: Vec<String>,
        /// The declaration token file (`veil log token`): its holder may log model
        /// registrations, key-release policies and audit heads. Without it the log
        /// takes receipts only.
        #[arg(long)]
        declare_token: Option<std::path::PathBuf>,
    },
    /// Make a declaration token (0600, never overwritten) for `veil log serve
    /// --declare-token` and a broker's `[log] token_file`.
    Token {
        /// Where it goes.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Run a witness (C2SP tlog-witness): it cosigns a log's checkpoint only if it
    /// extends the last one it cosigned for that log.
    Witness {
        /// The witness's private key (`veil log keygen --name WITNESS`).
        #[arg(long)]
        key: std::path::PathBuf,
        /// A log it follows, by public key (repeatable).
        #[arg(long = "log-key", required = true)]
        log_keys: Vec<String>,
        /// Where it keeps the last size and root it cosigned per log.
        #[arg(long)]
        state: std::path::PathBuf,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8091")]
        listen: std::net::SocketAddr,
    },
    /// Save the log's latest checkpoint, after checking its signature and that it
    /// extends the one already in OUT (if any): a log that forks its history is caught.
    Checkpoint {
        /// The log's base URL.
        #[arg(long)]
        url: String,
        /// The log's public key (`name+id+base64`, or a file holding it).
        #[arg(long)]
        log_key: String,
        /// The checkpoint file to update.
        out: std::path::PathBuf,
    },
    /// Anchor the log's latest checkpoint on chain (the signer must be an anchorer
    /// of the deployment's ReceiptAnchor), or with --check verify that the newest
    /// anchored root is one the log's history holds.
    Anchor {
        /// The log's base URL.
        #[arg(long)]
        url: String,
        /// The log's public key (`name+id+base64`, or a file holding it).
        #[arg(long)]
        log_key: String,
        /// Check the newest anchor against the log instead of anchoring.
        #[arg(long)]
        check: bool,
        /// The chain and signer.
        #[command(flatten)]
        ledger: crate::ledger::LedgerTarget,
    },
    /// Check that checkpoint NEW extends checkpoint OLD, with a proof from the log.
    Verify {
        /// The log's base URL.
        #[arg(long)]
        url: String,
        /// The log's public key (`name+id+base64`, or a file holding it).
        #[arg(long)]
        log_key: String,
        /// The older checkpoint file.
        old: std::path::PathBuf,
        /// The newer checkpoint file.
        new: std::path::PathBuf,
    },
}

/// Check that signed checkpoint `new` extends `old`, with a consistency proof from
/// the log at `url`.
pub async fn consistency(
    url: &str,
    log: &LogVerifier,
    old: &[u8],
    new: &[u8],
) -> Result<(Checkpoint, Checkpoint)> {
    let (o, n) = (Checkpoint::open(old, log)?, Checkpoint::open(new, log)?);
    if o.size > n.size {
        return Err(TlogError::StaleCheckpoint { seen: o.size, given: n.size }.into());
    }
    let proof = veil_tlog_http::LogClient::new(url)
        .consistency(o.size, n.size)
        .await
        .map_err(|e| StackError::Config(e.to_string()))?;
    Ok(veil_tlog::check_consistency(old, new, &proof.proof, log)?)
}

/// Fetch the log's latest checkpoint and check it against `previous` (the last one
/// seen, if any): signed by the log, no smaller, and consistent. The new checkpoint's
/// bytes.
pub async fn fresh_checkpoint(
    url: &str,
    log: &LogVerifier,
    previous: Option<&[u8]>,
) -> Result<(Vec<u8>, Checkpoint)> {
    let latest = veil_tlog_http::LogClient::new(url)
        .checkpoint()
        .await
        .map_err(|e| StackError::Config(e.to_string()))?;
    let cp = Checkpoint::open(&latest, log)?;
    if let Some(prev) = previous {
        consistency(url, log, prev, &latest).await?;
    }
    Ok((latest, cp))
}

/// Append `entry` and wait until it is durable (off the async runtime); its index.
pub async fn append(log: &Arc<Log>, entry: &veil_protocol::LogEntry) -> Result<u64> {
    let leaf = veil_tlog::encode_entry(entry)?;
    let log = log.clone();
    let appended = tokio::task::spawn_blocking(move || log.append(leaf))
        .await
        .map_err(|e| StackError::Config(format!("the log's append task: {e}")))??;
    Ok(appended.index)
}

/// Log the broker's release policy in `kms_config` unless this exact file was logged
/// last (`marker` keeps its root): called before the broker starts, so a measurement
/// admitted or a resource granted is public before it takes effect.
pub async fn log_policy(log: &Arc<Log>, kms_config: &Path, marker: &Path) -> Result<()> {
    let (root, entry) = policy_entry(kms_config)?;
    if veil_fs::read_limited(marker, 1024).ok().is_some_and(|m| m.trim_ascii() == root.to_string().as_bytes())
    {
        return Ok(());
    }
    append(log, &entry).await?;
    veil_fs::write_atomic(marker, format!("{root}\n").as_bytes())?;
    Ok(())
}

/// The entry that publishes the release policy in `kms_config`, and the file's root.
fn policy_entry(kms_config: &Path) -> Result<(veil_content::Root, veil_protocol::LogEntry)> {
    let bytes = veil_fs::read_limited(kms_config, 1 << 20)?;
    let root = veil_content::root_of(&bytes).map_err(|e| StackError::Config(e.to_string()))?;
    let release = crate::kms::read_config(kms_config)?.release;
    let measurements = release
        .measurements
        .iter()
        .flat_map(|(tee, ms)| ms.iter().map(move |m| format!("{tee:?}:{m}").to_lowercase()))
        .collect();
    let resources =
        release.resources.iter().flat_map(|(m, rs)| rs.iter().map(move |r| format!("{m}={r}"))).collect();
    Ok((root, veil_protocol::LogEntry::Policy { policy_root: root, measurements, resources }))
}

/// Where a broker publishes its release policy before acting on it (`[log]` in its
/// configuration).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishTo {
    /// The log's base URL.
    pub url: String,
    /// The log's public key (`name+id+base64`): the broker checks the log's answer.
    pub key: String,
    /// The log's declaration token (a 0600 file).
    pub token_file: std::path::PathBuf,
}

/// Declare `entry` to the log `to` names and check the answer's inclusion under
/// the log key it pins.
async fn declare_checked(to: &PublishTo, entry: &veil_protocol::LogEntry) -> Result<Inclusion> {
    let log = verifier(&to.key)?;
    let token = read_token(&to.token_file)?;
    let leaf = veil_tlog::encode_entry(entry)?;
    let inclusion = veil_tlog_http::LogClient::new(&to.url)
        .declare(entry, &token)
        .await
        .map_err(|e| StackError::Config(e.to_string()))?;
    veil_tlog::check_inclusion(&inclusion, &leaf, &log)?;
    Ok(inclusion)
}

/// A standalone broker's start: publish the release policy in `kms_config` (unless
/// `marker` already holds an inclusion of this exact policy that checks) and the
/// head of `audit_log`, each checked by its inclusion proof under the log's key —
/// so the broker never acts on a policy the log does not provably hold. The
/// policy entry's index and the audit head's length.
pub async fn publish_policy(
    to: &PublishTo,
    kms_config: &Path,
    audit_log: &Path,
    marker: &Path,
) -> Result<(u64, u64)> {
    let (_, entry) = policy_entry(kms_config)?;
    let leaf = veil_tlog::encode_entry(&entry)?;
    let log = verifier(&to.key)?;
    let held = veil_fs::read_json::<Inclusion>(marker, 1 << 20, "a policy inclusion")
        .ok()
        .filter(|inc| veil_tlog::check_inclusion(inc, &leaf, &log).is_ok());
    let index = match held {
        Some(inc) => inc.index,
        None => {
            let inc = declare_checked(to, &entry).await?;
            veil_fs::write_atomic(marker, &serde_json::to_vec_pretty(&inc).unwrap_or_default())?;
            inc.index
        }
    };
    let mut last = 0;
    log_audit_head_if_grew(&AuditSink::Remote(to.clone()), audit_log, &mut last).await?;
    Ok((index, last))
}

/// Where a broker's audit heads are logged.
pub enum AuditSink {
    /// The log in this process (`veil up`).
    Local(Arc<Log>),
    /// A log over HTTP, as a declaration (`veil kms serve` with `[log]`).
    Remote(PublishTo),
}

/// How often a running broker's audit head is logged (when it grew).
pub const AUDIT_HEAD_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Log the head of `audit_log` if it has more entries than `last` (then updated).
pub async fn log_audit_head_if_grew(sink: &AuditSink, audit_log: &Path, last: &mut u64) -> Result<()> {
    if !audit_log.exists() {
        return Ok(());
    }
    let head = veil_audit::verify(audit_log, None)?;
    if head.len <= *last {
        return Ok(());
    }
    let entry = veil_protocol::LogEntry::AuditHead { len: head.len, hash: hex::encode(head.hash) };
    match sink {
        AuditSink::Local(log) => {
            append(log, &entry).await?;
        }
        AuditSink::Remote(to) => {
            declare_checked(to, &entry).await?;
        }
    }
    *last = head.len;
    Ok(())
}

/// Log the broker's audit head every [`AUDIT_HEAD_EVERY`] while it grows, until
/// `stop`: an audit log later found without an entry a logged head covers has
/// lost it.
pub async fn audit_heads_periodically(
    sink: AuditSink,
    audit_log: std::path::PathBuf,
    mut last: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(AUDIT_HEAD_EVERY) => {}
        }
        // A line being appended as it is read fails the check; the next round retries.
        if let Err(e) = log_audit_head_if_grew(&sink, &audit_log, &mut last).await {
            tracing::warn!(error = %e, "logging the key broker's audit head");
        }
    }
}

/// Log each model's registration.
pub async fn log_models(log: &Arc<Log>, models: &[veil_model::RegisteredModel]) -> Result<()> {
    for m in models {
        let format = serde_json::to_value(m.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let entry = veil_protocol::LogEntry::Model {
            name: m.meta.name.clone(),
            weights_root: m.root,
            format,
            sealed: m.sealed,
        };
        append(log, &entry).await?;
    }
    Ok(())
}

/// Log the head of the broker's audit log (after checking the log's chain); its
/// length.
pub async fn log_audit_head(log: &Arc<Log>, audit_log: &Path) -> Result<u64> {
    let mut last = 0;
    log_audit_head_if_grew(&AuditSink::Local(log.clone()), audit_log, &mut last).await?;
    Ok(last)
}

/// `veil log checkpoint`: fetch the log's checkpoint, check it extends the one in
/// `file` (if any), and replace the file with it.
pub async fn update_checkpoint_file(url: &str, log: &LogVerifier, file: &Path) -> Result<Checkpoint> {
    let previous = match veil_fs::read_limited(file, 1 << 16) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let (bytes, cp) = fresh_checkpoint(url, log, previous.as_deref()).await?;
    veil_fs::write_atomic(file, &bytes)?;
    Ok(cp)
}

/// `veil log verify`: two checkpoint files, and a consistency proof from the log.
pub async fn consistency_of_files(
    url: &str,
    log: &LogVerifier,
    old: &Path,
    new: &Path,
) -> Result<(Checkpoint, Checkpoint)> {
    let (o, n) = (veil_fs::read_limited(old, 1 << 16)?, veil_fs::read_limited(new, 1 << 16)?);
    consistency(url, log, &o, &n).await
}

/// A prover's receipt log: each receipt submitted to the log at `url` from the
/// proving thread, on the runtime behind `handle`.
pub fn prover_log(url: &str, handle: tokio::runtime::Handle) -> veil_prover::ReceiptLog {
    let client = veil_tlog_http::LogClient::new(url);
    Box::new(move |receipt: &[u8]| handle.block_on(client.submit_receipt(receipt)).map_err(|e| e.to_string()))
}

/// How often `veil up` anchors the log's checkpoint on chain (when it grew).
pub const ANCHOR_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Anchor `cp` unless the chain already holds an anchor at least as large; the gas
/// used, or `None` when there was nothing to anchor.
pub async fn anchor(
    client: &veil_ledger::ChainClient<alloy::providers::DynProvider>,
    cp: &Checkpoint,
) -> Result<Option<u64>> {
    let anchored = client.latest_anchor().await?.map_or(0, |a| a.0);
    if cp.size <= anchored || cp.size == 0 {
        return Ok(None);
    }
    Ok(Some(client.anchor(cp.size, alloy::primitives::B256::from(cp.root.0)).await?))
}

/// Check that the newest anchor on chain names a tree the log at `url` holds: the
/// log's latest checkpoint (signed by `log`) is consistent with it, by a proof from
/// the log. The anchored size and the block time it was anchored at.
pub async fn check_anchor(
    client: &veil_ledger::ChainClient<alloy::providers::DynProvider>,
    url: &str,
    log: &LogVerifier,
) -> Result<(u64, u64)> {
    let (_, cp) = fresh_checkpoint(url, log, None).await?;
    check_against_anchor(client, url, &cp).await
}

/// Check that checkpoint `cp` (already verified) and the newest anchor on chain are
/// one history: a consistency proof from the log at `url` between them, whichever is
/// larger. The anchored size and its block time.
pub async fn check_against_anchor(
    client: &veil_ledger::ChainClient<alloy::providers::DynProvider>,
    url: &str,
    cp: &Checkpoint,
) -> Result<(u64, u64)> {
    let (size, root, at) =
        client.latest_anchor().await?.ok_or_else(|| StackError::Config("nothing is anchored yet".into()))?;
    let anchored = LogHash(root.0);
    let http = veil_tlog_http::LogClient::new(url);
    let (old, new) = if size <= cp.size {
        ((size, anchored), (cp.size, cp.root))
    } else {
        ((cp.size, cp.root), (size, anchored))
    };
    let proof = http.consistency(old.0, new.0).await.map_err(|e| StackError::Config(e.to_string()))?;
    veil_tlog::verify_consistency(old.0, old.1, new.0, new.1, &proof.proof)?;
    Ok((size, at))
}

/// Anchor the log's checkpoint every [`ANCHOR_EVERY`] until `stop`.
pub async fn anchor_periodically(
    log: Arc<Log>,
    client: veil_ledger::ChainClient<alloy::providers::DynProvider>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(ANCHOR_EVERY) => {}
        }
        let cp = log.snapshot().checkpoint.clone();
        match anchor(&client, &cp).await {
            Ok(Some(gas)) => tracing::info!(size = cp.size, gas, "anchored the log's checkpoint"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "anchoring the log's checkpoint"),
        }
    }
}

/// The log's HTTP app over `log`; with witnesses, a task (to spawn) that gathers
/// their cosignatures of each new checkpoint into what `/checkpoint` serves.
pub fn app(
    log: Arc<Log>,
    clock: fn() -> u64,
    witnesses: Vec<String>,
    declare: Option<[u8; 32]>,
) -> (axum::Router, Option<impl std::future::Future<Output = ()> + Send + 'static>) {
    let svc = service(log.clone(), clock, declare);
    let gather = (!witnesses.is_empty()).then(|| {
        veil_tlog_http::gather_cosignatures(
            log,
            witnesses,
            svc.cosigned.clone(),
            std::time::Duration::from_secs(1),
        )
    });
    (veil_tlog_http::router(svc), gather)
}

/// A witness from its key file, following the logs `log_keys`, keeping state in
/// `state`; its app and its public cosignature key.
pub fn witness(
    key: &Path,
    log_keys: &[String],
    state: &Path,
    clock: fn() -> u64,
) -> Result<(axum::Router, String)> {
    veil_fs::check_private(key)?;
    let bytes = Zeroizing::new(veil_fs::read_limited(key, 4096)?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| StackError::Config(format!("{} is not a key", key.display())))?;
    let (name, signing) = veil_tlog::witness_key(text)?;
    let logs = log_keys.iter().map(|k| verifier(k)).collect::<Result<Vec<_>>>()?;
    let w = veil_tlog::Witness::open(&name, signing, logs, state)
        .map_err(|e| StackError::Config(e.to_string()))?;
    let vkey = w.verifier_key();
    Ok((veil_tlog_http::witness_router(Arc::new(w), clock), vkey))
}

/// What `veil bench log` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct LogBenchOptions {
    /// Entries appended (the tree size proofs are then measured at).
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: u64,
    /// Bytes per entry (a receipt entry is about 250).
    #[arg(long, default_value_t = 250)]
    pub entry_bytes: usize,
    /// Inclusion proofs generated and verified.
    #[arg(long, default_value_t = 10_000)]
    pub proofs: usize,
    /// Entries offered per second (0: as fast as the log takes them).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// The most entries one commit takes.
    #[arg(long, default_value_t = LogOptions::default().max_batch)]
    pub max_batch: usize,
}

fn bench_clock() -> u64 {
    // A benchmark's checkpoints need a time, not the time.
    1_764_849_600
}

/// `veil bench log` in `dir`: append throughput with group-commit fsync beside the
/// floor a bare fsynced append file sets (the same bytes, the same batches), storage
/// per entry, and inclusion proofs from the tiles beside the same proofs from every
/// stored hash held in memory (the Go sumdb design), as markdown.
pub fn bench(opts: &LogBenchOptions, dir: &Path) -> Result<String> {
    use std::fmt::Write as _;
    use std::time::{Duration, Instant};

    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| StackError::Config(format!("random: {e}")))?;
    let (skey, vkey) = veil_tlog::generate_key("bench.veil.local/log", &seed)?;
    let verifier = LogVerifier::new(&vkey)?;
    let log_dir = dir.join("log");
    let options = LogOptions { max_batch: opts.max_batch.max(1), ..LogOptions::default() };
    let log = Arc::new(Log::open(&log_dir, LogSigner::from_encoded(&skey)?, bench_clock, options)?);
    let n = opts.entries.max(1);
    let entry = |i: u64| {
        let mut e = format!("{i:020}").into_bytes();
        e.resize(opts.entry_bytes.max(20), b'.');
        e
    };

    // Appends: one producer submitting as fast as the queue takes them; batches form
    // while the previous one is being made durable.
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Duration)>();
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        if opts.rate > 0 && i % 64 == 0 {
            let due = Duration::from_secs_f64(i as f64 / opts.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let (tx, at) = (tx.clone(), Instant::now());
        match log.submit(
            entry(i),
            Box::new(move |r| {
                if let Ok(a) = r {
                    let _ = tx.send((a.snapshot.checkpoint.size, at.elapsed()));
                }
            }),
        ) {
            Ok(()) => i += 1,
            Err(TlogError::Busy(_)) => std::thread::sleep(Duration::from_micros(200)),
            Err(e) => return Err(e.into()),
        }
    }
    drop(tx);
    let mut latencies = Vec::with_capacity(n as usize);
    let mut batch_ends = std::collections::BTreeSet::new();
    for (size, latency) in rx {
        latencies.push(latency);
        batch_ends.insert(size);
    }
    let append_secs = started.elapsed().as_secs_f64();
    if latencies.len() as u64 != n {
        return Err(StackError::Config(format!("{} of {n} appends were acknowledged", latencies.len())));
    }
    latencies.sort();
    let batches: Vec<u64> =
        batch_ends.iter().scan(0, |prev, &end| Some(end - std::mem::replace(prev, end))).collect();

    // The floor: the same bytes appended to one file, fsynced once per batch of the
    // sizes the log made.
    let floor_path = dir.join("floor.log");
    let floor_started = Instant::now();
    {
        let mut f = std::fs::File::create(&floor_path)?;
        let mut k = 0;
        for &b in &batches {
            let mut buf = Vec::new();
            for j in k..k + b {
                let e = entry(j);
                buf.extend_from_slice(&(e.len() as u16).to_be_bytes());
                buf.extend_from_slice(&e);
            }
            std::io::Write::write_all(&mut f, &buf)?;
            f.sync_data()?;
            k += b;
        }
    }
    let floor_secs = floor_started.elapsed().as_secs_f64();
    std::fs::remove_file(&floor_path)?;

    let bytes_on_disk = du(&log_dir)?;
    let snap = log.snapshot();
    let size = snap.checkpoint.size;

    // Proofs from the tiles, and their verification.
    let mut rng = seed.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| h.rotate_left(5) ^ u64::from(*b));
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let picks: Vec<u64> = (0..opts.proofs.max(1)).map(|_| next() % size).collect();
    let t = Instant::now();
    let proofs: Vec<Vec<LogHash>> =
        picks.iter().map(|&i| log.prove_inclusion(i, size)).collect::<std::result::Result<_, _>>()?;
    let prove_us = t.elapsed().as_secs_f64() * 1e6 / picks.len() as f64;
    let leaves: Vec<LogHash> = picks.iter().map(|&i| veil_tlog::leaf_hash(&entry(i))).collect();
    let t = Instant::now();
    for ((&i, p), leaf) in picks.iter().zip(&proofs).zip(&leaves) {
        veil_tlog::verify_inclusion(*leaf, i, size, snap.checkpoint.root, p)?;
    }
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / picks.len() as f64;
    Checkpoint::open(&snap.note, &verifier)?;

    // The reference: every stored hash in memory (`tlog_tiles`, the Go design).
    let mut stored: Vec<tlog_tiles::Hash> = Vec::with_capacity(2 * size as usize);
    let mem = MemHashes(&mut stored);
    for j in 0..size {
        let hs =
            tlog_tiles::stored_hashes(j, &entry(j), &mem).map_err(|e| StackError::Config(e.to_string()))?;
        mem.0.extend(hs);
    }
    let t = Instant::now();
    for &i in &picks {
        tlog_tiles::prove_record(size, i, &mem).map_err(|e| StackError::Config(e.to_string()))?;
    }
    let mem_prove_us = t.elapsed().as_secs_f64() * 1e6 / picks.len() as f64;

    let pct = |p: f64| crate::bench::percentile(&latencies, p).as_secs_f64() * 1000.0;
    let mean_batch = n as f64 / batches.len() as f64;
    let mut out = String::new();
    let offered = if opts.rate > 0 { format!("{} entries/s offered", opts.rate) } else { "unpaced".into() };
    let _ = writeln!(
        out,
        "## Transparency log: {n} entries of {} bytes, {offered}, batches of at most {}\n",
        opts.entry_bytes.max(20),
        options.max_batch
    );
    let _ = writeln!(out, "| measure | Veil log | reference | ratio |\n|---|---|---|---|");
    let _ = writeln!(
        out,
        "| appends/s (durable) | {:.0} | {:.0} (fsynced append file, same batches) | {:.2} |",
        n as f64 / append_secs,
        n as f64 / floor_secs,
        floor_secs / append_secs
    );
    let _ = writeln!(
        out,
        "| inclusion proof at {size} | {prove_us:.1} µs (tiles on disk) | {mem_prove_us:.1} µs (all hashes in memory) | {:.2} |",
        mem_prove_us / prove_us
    );
    let _ = writeln!(out, "| proof verification | {verify_us:.1} µs | | |");
    let _ = writeln!(
        out,
        "\nBatches: {} (mean {mean_batch:.0} entries); acknowledgement latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms.",
        batches.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    let _ = writeln!(
        out,
        "Storage: {:.1} bytes per entry ({} bytes of entry data), {bytes_on_disk} bytes in all.",
        bytes_on_disk as f64 / n as f64,
        opts.entry_bytes.max(20)
    );
    Ok(out)
}

struct MemHashes<'a>(&'a mut Vec<tlog_tiles::Hash>);

impl tlog_tiles::HashReader for MemHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| self.0.get(i as usize).copied().ok_or(tlog_tiles::Error::IndexesNotInTree))
            .collect()
    }
}

/// Bytes of regular files under `dir` (their lengths; blocks are the filesystem's).
fn du(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() { du(&e.path())? } else { m.len() };
    }
    Ok(total)
}
