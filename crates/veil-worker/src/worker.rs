//! The worker: attest once, then run jobs with keys the broker releases per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::sol_types::Eip712Domain;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use veil_attester::Attester;
use veil_content::{Root, root_of};
use veil_evidence::Evidence;
use veil_kms_client::{ClientError, KmsClient};
use veil_llm::LlmModel;
use veil_model::{ModelFormat, OnnxModel};
use veil_protocol::kms::{SealedResource, UserProof, model_resource, token_resource};
use veil_protocol::{ErrorCode, Problem, RequestError, TokenId};
use veil_receipt::events::{
    DataLoaded, FheEvaluated, InferenceCompleted, KeyReleased, ModelLoaded, NftAuthorized, RequestReceived,
    ResponseReturned,
};
use veil_receipt::{Event, Mode, Receipt, SignedReceipt};
use veil_seal::Identity;
use veil_store::Store;
use zeroize::Zeroizing;

use veil_protocol::{
    ATTESTATION_PURPOSE, AttestationResponse, ChatInput, DEFAULT_MAX_TOKENS, FheOutput, InferenceOutput,
    JobOutput, JobRequest, JobResponse, MAX_EXPIRY_SECS, MAX_ROWS, Prediction, SignedAccessGrant,
    SignedRequest, WorkerHealth, domain,
};
use veil_protocol::{Table, TableError};

/// Largest sealed token blob a job reads into the enclave's memory.
pub const MAX_DATA_BYTES: u64 = 64 * 1024 * 1024;

/// Where a job's time went, for the `Server-Timing` header.
#[derive(Debug, Default, Clone)]
pub struct Timings {
    marks: Vec<(&'static str, Duration)>,
    last: Option<Instant>,
}

impl Timings {
    pub(crate) fn start() -> Self {
        Self { marks: Vec::new(), last: Some(Instant::now()) }
    }

    /// Close the stage `name` (it ran since the previous mark).
    pub(crate) fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.marks.push((name, now - last));
        }
        self.last = Some(now);
    }

    fn add(&mut self, name: &'static str, d: Duration) {
        self.marks.push((name, d));
    }

    /// `name;dur=MS, …` (RFC-less but every browser's and tool's format).
    pub fn header(&self) -> String {
        self.marks
            .iter()
            .map(|(n, d)| format!("{n};dur={:.3}", d.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One model a worker serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Its registry name.
    pub name: String,
    /// Its weights root.
    pub root: Root,
    /// Class labels, in output order (none for a language model).
    pub classes: Vec<String>,
    /// Its format; absent means ONNX, so configurations (and the measurements over
    /// them) written before language models are unchanged.
    #[serde(default, skip_serializing_if = "ModelFormat::is_onnx")]
    pub format: ModelFormat,
    /// When it is sealed at rest: the sealed blob's root. Its key is the broker's
    /// `model/<root>` resource, released only to an allowlisted measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Root>,
}

/// What a worker is: measured into its attestation, so the broker's allowlist pins it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// The chain whose INFT contract users' requests are bound to.
    pub chain_id: u64,
    /// That INFT contract.
    pub inft: Address,
    /// The models it serves.
    pub models: Vec<ModelEntry>,
    /// The Ed25519 key (hex) of the one key broker whose releases this worker takes.
    /// It is part of the measured configuration, so an enclave's measurement names
    /// its broker: a host cannot hand it keys and data of its own choosing.
    pub kms_key: String,
}

impl WorkerConfig {
    /// The root of the model set (JCS of the entries), the "model" input of the measurement.
    pub fn model_set_root(&self) -> Result<Root, WorkerError> {
        let bytes =
            veil_jcs::to_canonical_vec(&self.models).map_err(|e| WorkerError::Config(e.to_string()))?;
        root_of(&bytes).map_err(|e| WorkerError::Config(e.to_string()))
    }
}

/// Why a job, or an answer to a user's attestation challenge, was refused. The
/// worker's HTTP edge (`server.rs`) maps each to its status and code, in one place.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The user's signed request does not verify.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// An attestation nonce is not acceptable.
    #[error("nonce must be 16 to 128 characters of [A-Za-z0-9_-]")]
    BadNonce,
    /// This worker does not serve the model.
    #[error("this worker does not serve model {0}")]
    ModelUnknown(Root),
    /// The key broker refused this worker's attestation (its problem document).
    #[error("the key broker refused this worker's attestation: {0}")]
    AttestationRefused(Problem),
    /// The broker, reading the ledger, does not authorize the user for the token.
    #[error("the ledger does not authorize {user} for token {token} ({})", ErrorCode::KmsNotAuthorized)]
    NotAuthorized {
        /// The user.
        user: String,
        /// The token.
        token: TokenId,
    },
    /// The broker refused the token key, or released it under terms this worker
    /// does not accept.
    #[error("{0}")]
    KeyRefused(String),
    /// The broker could not be asked, or what it released does not open.
    #[error("{0}")]
    KeyUnavailable(String),
    /// The token's sealed data did not arrive intact or does not open.
    #[error("{0}")]
    DataIntegrity(String),
    /// The input or the token's data does not fit the model.
    #[error("{0}")]
    BadInput(String),
    /// The request asks for more than the user's access grant allows.
    #[error("{0}")]
    GrantLimit(String),
    /// The client went away while the answer was generated; nothing was signed.
    #[error("the client went away; generation stopped")]
    Cancelled,
    /// An FHE query or key does not parse, is under another parameter set, or does not
    /// fit the model's input.
    #[error("{0}")]
    BadCiphertext(veil_fhe::FheError),
    /// An FHE query holds more than one request may.
    #[error("{0}")]
    CiphertextTooLarge(veil_fhe::FheError),
    /// The model runs one generation at a time and one is running; try again.
    #[error("the model is busy with another request; try again")]
    Busy,
    /// A federated round's start or message was refused.
    #[error("{0}")]
    Fl(#[from] veil_fl::FlError),
    /// No round of that federation is hosted here.
    #[error("no round of federation {0:?} is hosted here")]
    FlUnknown(String),
    /// A training order that cannot run on this token's data.
    #[error("{0}")]
    BadOrder(String),
    /// A serving-marketplace API key that does not parse or verify.
    #[error("{0}")]
    Market(veil_protocol::market::MarketError),
    /// Something inside the worker failed.
    #[error("{0}")]
    Internal(String),
}

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The configuration is unusable.
    #[error("worker config: {0}")]
    Config(String),
    /// A model could not be fetched or loaded.
    #[error("model {name}: {reason}")]
    Model {
        /// Which.
        name: String,
        /// Why.
        reason: String,
    },
    /// Key generation failed.
    #[error("generating keys: {0}")]
    Keys(String),
}

pub(crate) struct Loaded {
    pub(crate) entry: ModelEntry,
    pub(crate) engine: Engine,
}

/// A verified model, ready to run.
pub(crate) enum Engine {
    Onnx(OnnxModel),
    Llm(LlmModel),
    Fhe(crate::fhe::FheEngine),
}

impl Loaded {
    fn onnx(&self) -> Result<&OnnxModel, JobError> {
        match &self.engine {
            Engine::Onnx(m) => Ok(m),
            Engine::Llm(_) => Err(bad_input(format!(
                "{} is a language model: send it a chat, not feature rows",
                self.entry.name
            ))),
            Engine::Fhe(_) => Err(bad_input(format!(
                "{} evaluates encrypted rows: send it an FHE query, not plaintext",
                self.entry.name
            ))),
        }
    }

    fn fhe(&self) -> Result<&crate::fhe::FheEngine, JobError> {
        match &self.engine {
            Engine::Fhe(e) => Ok(e),
            Engine::Onnx(_) | Engine::Llm(_) => Err(bad_input(format!(
                "{} does not evaluate encrypted rows (send plaintext to an attested worker, \
                 or use its int8 model for FHE)",
                self.entry.name
            ))),
        }
    }
}

/// Who asks for a token job, as the job proves it.
struct Caller<'a> {
    /// What the broker verifies for itself.
    proof: UserProof<'a>,
    user: Address,
    token: TokenId,
    received: OffsetDateTime,
    /// The `request.received` event.
    event: RequestReceived,
    /// What the receipt's `input_hash` covers (and, for tables, which rows to read).
    input: Value,
}

/// Counts a job as running for as long as it lives, however it ends (a streamed job's
/// future is dropped when its client goes away).
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        Self(n)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a streamed chat's text goes as it is generated.
pub type Deltas = tokio::sync::mpsc::Sender<String>;

/// A token's key released for a user, and its data as the chain names it, still sealed.
pub(crate) struct TokenData {
    pub session: Session,
    pub data_root: Root,
    pub identity: Identity,
    pub sealed: Vec<u8>,
    /// What the release and the fetch showed: `nft.authorized`, `key.released` and
    /// `data.loaded`, in that order.
    pub events: Vec<Event>,
}

/// What a token job computed.
enum Computed {
    Predictions { output: InferenceOutput, rows: usize },
    Chat(Box<crate::chat::Answer>),
}

#[derive(Clone)]
pub(crate) struct Session {
    id: String,
    evidence: Evidence,
    dev_root: bool,
    /// When the broker stops honouring it.
    expires_at: u64,
    /// When [`Worker::keep_session`] replaces it: a third of its life before expiry.
    renew_at: u64,
    /// Seconds before expiry it stops being used for new releases.
    margin: u64,
}

/// A session this close to its expiry (or a quarter of its life, if less) is not used
/// for a new release.
const SESSION_MARGIN_SECS: u64 = 5;
/// Attestations a job tries before giving up when the broker cannot be reached.
const ATTEST_TRIES: u32 = 3;
/// The first wait between those tries (then four times longer each).
const ATTEST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between background renewal tries.
const RENEW_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Whether a refusal may go away by itself (the broker is down or busy) rather than
/// being the broker's considered answer about this worker.
fn transient(p: &Problem) -> bool {
    p.status >= 500 || p.code == ErrorCode::KmsUnreachable
}

/// A running worker.
pub struct Worker {
    config: WorkerConfig,
    pub(crate) domain: Eip712Domain,
    pub(crate) identity: Identity,
    kms: KmsClient,
    attester: Arc<dyn Attester>,
    measurement: String,
    pub(crate) store: Store,
    models: HashMap<Root, Arc<Loaded>>,
    sealed: HashMap<Root, SealedModel>,
    session: tokio::sync::Mutex<Option<Session>>,
    refusal: std::sync::Mutex<Option<Problem>>,
    running: AtomicUsize,
    pub(crate) clock: fn() -> u64,
    /// The federated rounds this worker aggregates.
    pub(crate) fl: crate::fl::FlHost,
    /// Made inside at start; signs federated rounds' records for the chain. Its
    /// address is bound in the evidence this worker gives users ([`CHAIN_KEY`]).
    pub(crate) chain_key: alloy::signers::local::PrivateKeySigner,
    /// Each marketplace receipt this enclave put in a settlement, and the one
    /// settlement slot (chain, contract, nonce) it may be paid under.
    pub(crate) settled: std::sync::Mutex<crate::market::SettledReceipts>,
}

/// The name under which a worker's evidence binds its chain key's address.
pub const CHAIN_KEY: &str = "secp256k1";

/// A model sealed at rest: its blob, and the model once opened inside.
struct SealedModel {
    entry: ModelEntry,
    blob: Vec<u8>,
    opened: tokio::sync::OnceCell<Arc<Loaded>>,
}

/// The engine for a model file already checked against `entry.root`.
fn engine(entry: &ModelEntry, bytes: &[u8]) -> Result<Engine, String> {
    Ok(match entry.format {
        ModelFormat::Onnx => Engine::Onnx(OnnxModel::load(bytes, &entry.root).map_err(|e| e.to_string())?),
        ModelFormat::Gguf => Engine::Llm(LlmModel::load(bytes, &entry.root).map_err(|e| e.to_string())?),
        ModelFormat::Int8 => {
            if root_of(bytes).ok() != Some(entry.root) {
                return Err(format!("the model's bytes are not {}", entry.root));
            }
            Engine::Fhe(crate::fhe::FheEngine::load(bytes)?)
        }
    })
}

fn data_integrity(detail: impl Into<String>) -> JobError {
    JobError::DataIntegrity(detail.into())
}

fn bad_input(detail: impl Into<String>) -> JobError {
    JobError::BadInput(detail.into())
}

pub(crate) fn internal(detail: impl Into<String>) -> JobError {
    JobError::Internal(detail.into())
}

impl Worker {
    /// Generate keys, load and verify every model, and attest to the broker. A
    /// refusal does not stop the worker: it answers every job with the refusal, so
    /// the gateway can tell the user why.
    pub async fn start(
        config: WorkerConfig,
        attester: Arc<dyn Attester>,
        measurement: String,
        kms: KmsClient,
        store: Store,
        clock: fn() -> u64,
    ) -> Result<Self, WorkerError> {
        let identity = Identity::generate().map_err(|e| WorkerError::Keys(e.to_string()))?;
        let mut models = HashMap::new();
        let mut sealed = HashMap::new();
        for entry in &config.models {
            let model_err = |reason: String| WorkerError::Model { name: entry.name.clone(), reason };
            if let Some(blob) = entry.sealed {
                // Fetched now (checked against the blob's root); opened on first use,
                // with the model's key the broker releases only to this measurement.
                let limit = entry.format.max_bytes() + veil_model::SEALING_OVERHEAD;
                let bytes = store.get_bytes(&blob, limit).await.map_err(|e| model_err(e.to_string()))?;
                let sealed_model =
                    SealedModel { entry: entry.clone(), blob: bytes, opened: Default::default() };
                sealed.insert(entry.root, sealed_model);
                continue;
            }
            let bytes = store
                .get_bytes(&entry.root, entry.format.max_bytes())
                .await
                .map_err(|e| model_err(e.to_string()))?;
            let engine = engine(entry, &bytes).map_err(model_err)?;
            models.insert(entry.root, Arc::new(Loaded { entry: entry.clone(), engine }));
        }
        let worker = Self {
            domain: domain(config.chain_id, config.inft),
            config,
            identity,
            kms,
            attester,
            measurement,
            store,
            models,
            sealed,
            session: tokio::sync::Mutex::new(None),
            refusal: std::sync::Mutex::new(None),
            running: AtomicUsize::new(0),
            clock,
            fl: Default::default(),
            chain_key: alloy::signers::local::PrivateKeySigner::random(),
            settled: Default::default(),
        };
        // A refusal here is kept and reported; `keep_session` and each job try again.
        let _ = worker.session().await;
        Ok(worker)
    }

    /// Now, from the clock the worker was given (receipts use whole seconds).
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp((self.clock)() as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The worker's measurement (hex).
    pub fn measurement(&self) -> &str {
        &self.measurement
    }

    /// The broker's refusal, if it refused this worker.
    pub fn refusal(&self) -> Option<Problem> {
        self.refusal.lock().ok().and_then(|r| r.clone())
    }

    /// Challenge and attest once; keep the session (or the refusal) in `slot`, which the
    /// caller holds so that concurrent jobs attest once, not once each.
    async fn attest_into(&self, slot: &mut Option<Session>) -> Result<Session, Problem> {
        let result = async {
            let challenge = self.kms.challenge().await?;
            let evidence = veil_kms_client::evidence_for_at(
                &*self.attester,
                &self.identity,
                &challenge.nonce,
                (self.clock)(),
            )?;
            let grant = self.kms.attest(evidence.clone()).await?;
            Ok::<_, ClientError>((grant, evidence))
        }
        .await;
        // The broker's verified view of this enclave must be the measurement it states
        // in every receipt (on hardware, the operator's reference value).
        let result = result.and_then(|(grant, evidence)| {
            if grant.measurement.eq_ignore_ascii_case(&self.measurement) {
                Ok((grant, evidence))
            } else {
                Err(ClientError::Refused(Problem::new(
                    http::StatusCode::FORBIDDEN,
                    ErrorCode::AttestationMeasurement,
                    format!(
                        "the broker measured this enclave as {}, but its reference measurement is {}",
                        grant.measurement, self.measurement
                    ),
                )))
            }
        });
        match result {
            Ok((grant, evidence)) => {
                tracing::info!(measurement = %grant.measurement, dev_root = grant.dev_root, expires_at = grant.expires_at, "attested to the key broker");
                let now = (self.clock)();
                let life = grant.expires_at.saturating_sub(now);
                let session = Session {
                    id: grant.session,
                    evidence,
                    dev_root: grant.dev_root,
                    expires_at: grant.expires_at,
                    renew_at: now + life * 2 / 3,
                    margin: SESSION_MARGIN_SECS.min(life / 4),
                };
                *slot = Some(session.clone());
                if let Ok(mut r) = self.refusal.lock() {
                    *r = None;
                }
                Ok(session)
            }
            Err(e) => {
                let problem = match e {
                    ClientError::Refused(p) => p,
                    other => Problem::new(
                        http::StatusCode::BAD_GATEWAY,
                        ErrorCode::KmsUnreachable,
                        other.to_string(),
                    ),
                };
                tracing::warn!(code = %problem.code, detail = %problem.detail, "the key broker refused this worker");
                // A session still within its life stays usable through a broker outage.
                if slot.as_ref().is_none_or(|s| s.expires_at <= (self.clock)()) {
                    *slot = None;
                }
                if let Ok(mut r) = self.refusal.lock() {
                    *r = Some(problem.clone());
                }
                Err(problem)
            }
        }
    }

    /// A session with life left: the current one, or a new one. A broker that cannot be
    /// reached is tried [`ATTEST_TRIES`] times with backoff; a refusal is final.
    pub(crate) async fn session(&self) -> Result<Session, JobError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref()
            && (self.clock)() + s.margin < s.expires_at
        {
            return Ok(s.clone());
        }
        let mut wait = ATTEST_BACKOFF;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.attest_into(&mut slot).await {
                Ok(s) => return Ok(s),
                Err(p) if transient(&p) && tries < ATTEST_TRIES => {
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                }
                Err(p) => return Err(JobError::AttestationRefused(p)),
            }
        }
    }

    /// Drop session `id` (the broker no longer knows it), unless already replaced.
    async fn forget(&self, id: &str) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|s| s.id == id) {
            *slot = None;
        }
    }

    /// Keep a session ready, forever: renew each a third of its life before it expires,
    /// and after a failure try again with backoff (up to [`RENEW_BACKOFF_MAX`]), so a
    /// worker recovers by itself when the broker comes back. Spawn it beside the server.
    pub async fn keep_session(self: Arc<Self>) {
        let mut backoff = ATTEST_BACKOFF;
        loop {
            let wait = {
                let slot = self.session.lock().await;
                match slot.as_ref() {
                    Some(s) if self.refusal().is_none() => {
                        Duration::from_secs(s.renew_at.saturating_sub((self.clock)()))
                    }
                    _ => backoff,
                }
            };
            // Never spin, whatever lifetime the broker grants.
            tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
            let mut slot = self.session.lock().await;
            let due = slot.as_ref().is_none_or(|s| (self.clock)() >= s.renew_at) || self.refusal().is_some();
            if !due {
                continue;
            }
            match self.attest_into(&mut slot).await {
                Ok(_) => backoff = ATTEST_BACKOFF,
                Err(_) => backoff = (backoff * 2).min(RENEW_BACKOFF_MAX),
            }
        }
    }

    /// Health, for the gateway.
    pub fn health(&self) -> WorkerHealth {
        let refusal = self.refusal();
        WorkerHealth {
            status: if refusal.is_some() { "attestation_refused" } else { "ready" }.into(),
            refusal,
            measurement: self.measurement.clone(),
            running: self.running.load(Ordering::Relaxed),
        }
    }

    /// Fresh evidence binding this worker's keys and `nonce` (a user's challenge).
    pub fn attestation(&self, nonce: &str) -> Result<AttestationResponse, JobError> {
        if !veil_protocol::is_challenge_nonce(nonce) {
            return Err(JobError::BadNonce);
        }
        self.evidence(nonce, ATTESTATION_PURPOSE)
    }

    /// Registration evidence for prover `account`: this worker's keys, its chain key
    /// among them, with the account in the nonce's place (what an attestation verifier
    /// checks before vouching that the chain key completes jobs for the account).
    pub fn registration(&self, account: &str) -> Result<AttestationResponse, JobError> {
        let account: Address = account
            .parse()
            .map_err(|_| JobError::BadInput("account must be a 0x-prefixed address".into()))?;
        self.evidence(&format!("{account:#x}"), veil_protocol::PROVER_REGISTRATION_PURPOSE)
    }

    fn evidence(&self, nonce: &str, purpose: &str) -> Result<AttestationResponse, JobError> {
        let mut rd = veil_attester::runtime_data(&self.identity, nonce, purpose, Some((self.clock)()));
        // The key that signs for the chain (federated rounds' records, job
        // completions): whoever checks this evidence may name it on chain.
        rd.public_keys.insert(CHAIN_KEY.to_owned(), self.chain_key.address().to_checksum(None));
        let evidence =
            veil_attester::evidence_for(&*self.attester, rd).map_err(|e| internal(e.to_string()))?;
        Ok(AttestationResponse { evidence, measurement: self.measurement.clone() })
    }

    /// Run one job.
    pub async fn run(self: &Arc<Self>, job: JobRequest) -> Result<(JobResponse, Timings), JobError> {
        self.run_with(job, None).await
    }

    /// Run a job; a chat's text also goes to `deltas` as it is generated (and stops
    /// when nobody receives it any more).
    pub async fn run_with(
        self: &Arc<Self>,
        job: JobRequest,
        deltas: Option<Deltas>,
    ) -> Result<(JobResponse, Timings), JobError> {
        let _running = Running::new(&self.running);
        let mut t = Timings::start();
        let result = match job {
            JobRequest::Token { request, data_root } => {
                self.token_job(request, data_root, deltas, &mut t).await
            }
            JobRequest::Chat { grant, model, input, data_root, stream: _ } => {
                self.grant_chat(grant, model, input, data_root, deltas, &mut t).await
            }
            JobRequest::Direct { model, rows } => self.direct_job(model, rows, &mut t).await,
            JobRequest::Fhe { model, query } => self.fhe_job(model, query, &mut t).await,
            JobRequest::Market(m) => self.market_chat(*m, deltas, &mut t).await,
        };
        result.map(|r| (r, t))
    }

    /// A served model, ready: a sealed one is opened on first use, inside, with the
    /// key the broker releases for it, and checked against its weights root.
    pub(crate) async fn model(&self, root: &Root) -> Result<Arc<Loaded>, JobError> {
        if let Some(m) = self.models.get(root) {
            return Ok(m.clone());
        }
        let s = self.sealed.get(root).ok_or(JobError::ModelUnknown(*root))?;
        s.opened.get_or_try_init(|| self.open_sealed(s)).await.cloned()
    }

    async fn open_sealed(&self, s: &SealedModel) -> Result<Arc<Loaded>, JobError> {
        let resource = model_resource(&s.entry.root);
        let (released, _) = self
            .release(&resource, None, |p| {
                JobError::KeyRefused(format!("the key broker refused the key of model {}: {p}", s.entry.name))
            })
            .await?;
        let seed = KmsClient::open_key(&self.identity, &released)
            .map_err(|e| JobError::KeyUnavailable(format!("model {}: {e}", s.entry.name)))?;
        let key = Identity::from_seed(&seed);
        let mut plain = Zeroizing::new(Vec::with_capacity(s.blob.len()));
        veil_seal::open(s.blob.as_slice(), &mut *plain, &key)
            .map_err(|e| data_integrity(format!("model {} does not open: {e}", s.entry.name)))?;
        let entry = s.entry.clone();
        let engine = tokio::task::spawn_blocking(move || engine(&entry, &plain))
            .await
            .map_err(|_| internal("the model task failed"))?
            .map_err(|e| data_integrity(format!("model {}: {e}", s.entry.name)))?;
        tracing::info!(model = %s.entry.name, root = %s.entry.root, "sealed model opened");
        Ok(Arc::new(Loaded { entry: s.entry.clone(), engine }))
    }

    /// Ask the broker for `resource`'s key (a token's on behalf of the user whose
    /// `proof` it carries); when the broker no longer knows the session (it expired,
    /// or the broker restarted), attest again and ask once more. Only a release signed
    /// by the configured broker, for this enclave's key, is taken; `refused` turns
    /// the broker's refusal into the job's.
    async fn release(
        &self,
        resource: &str,
        proof: Option<UserProof<'_>>,
        refused: impl Fn(Problem) -> JobError,
    ) -> Result<(SealedResource, Session), JobError> {
        for attempt in 0..2 {
            let session = self.session().await?;
            match self.kms.resource(&session.id, resource, proof).await {
                Ok(released) => {
                    veil_kms_client::verify_grant(
                        &released,
                        &self.config.kms_key,
                        &self.identity.public_key(),
                    )
                    .map_err(|e| JobError::KeyRefused(e.to_string()))?;
                    if released.resource != resource {
                        return Err(JobError::KeyRefused(format!(
                            "asked for {resource}, the broker released {}",
                            released.resource
                        )));
                    }
                    return Ok((released, session));
                }
                Err(ClientError::Refused(p)) => match p.code {
                    ErrorCode::KmsSession if attempt == 0 => self.forget(&session.id).await,
                    _ => return Err(refused(p)),
                },
                Err(e) => {
                    return Err(JobError::KeyUnavailable(format!("the key broker could not be asked: {e}")));
                }
            }
        }
        Err(internal("the key broker refused two fresh sessions in a row"))
    }

    /// A token's key, for the user whose `proof` the broker verifies.
    async fn release_token(
        &self,
        token: TokenId,
        user: &str,
        proof: UserProof<'_>,
    ) -> Result<(SealedResource, Session), JobError> {
        let refused = |p: Problem| match p.code {
            ErrorCode::KmsNotAuthorized => JobError::NotAuthorized { user: user.to_owned(), token },
            _ => JobError::KeyRefused(format!("the key broker refused the token key: {p}")),
        };
        self.release(&token_resource(token), Some(proof), refused).await
    }

    async fn token_job(
        self: &Arc<Self>,
        request: SignedRequest,
        gateway_root: Root,
        deltas: Option<Deltas>,
        t: &mut Timings,
    ) -> Result<JobResponse, JobError> {
        let received = self.now();
        let user = request.verify(&self.domain, (self.clock)(), MAX_EXPIRY_SECS)?;
        let token = request.token()?;
        let model = self.model(&request.model).await?;
        // A chat is checked before a key is released for it.
        let chat = match model.engine {
            Engine::Llm(_) => Some(crate::chat::parse(&request.input)?),
            Engine::Onnx(_) => None,
            // A token's records are plaintext in the enclave; FHE models take queries.
            Engine::Fhe(_) => {
                model.onnx()?;
                None
            }
        };
        let caller = Caller {
            proof: UserProof::Request(&request),
            user,
            token,
            received,
            event: RequestReceived {
                signer: Some(user.to_string()),
                nonce: Some(request.nonce.clone()),
                expiry: Some(request.expiry),
                signature: Some(request.signature.clone()),
                grant: None,
            },
            input: request.input.clone(),
        };
        self.serve(caller, model, chat, gateway_root, deltas, t).await
    }

    /// A chat for the bearer of `grant`: the grant must verify here, allow this model
    /// and this many new tokens; the broker then verifies it again and reads the
    /// ledger, as for a signed request.
    async fn grant_chat(
        self: &Arc<Self>,
        grant: SignedAccessGrant,
        model_root: Root,
        mut input: ChatInput,
        gateway_root: Root,
        deltas: Option<Deltas>,
        t: &mut Timings,
    ) -> Result<JobResponse, JobError> {
        let received = self.now();
        let terms = grant.verify(&self.domain, (self.clock)())?;
        if terms.model != model_root {
            return Err(JobError::GrantLimit(format!(
                "the API key allows model {}, not {model_root}",
                terms.model
            )));
        }
        let model = self.model(&model_root).await?;
        if !matches!(model.engine, Engine::Llm(_)) {
            return Err(bad_input(format!(
                "{} is not a language model: an API key is for chats",
                model.entry.name
            )));
        }
        input.check().map_err(JobError::BadInput)?;
        match input.max_tokens {
            Some(n) if n > terms.max_tokens => {
                return Err(JobError::GrantLimit(format!(
                    "the API key allows at most {} new tokens per completion, not {n}",
                    terms.max_tokens
                )));
            }
            Some(_) => {}
            None => input.max_tokens = Some(terms.max_tokens.min(DEFAULT_MAX_TOKENS)),
        }
        let digest = grant.digest(&self.domain)?;
        let value = serde_json::to_value(&input).map_err(|e| internal(e.to_string()))?;
        let caller = Caller {
            proof: UserProof::Grant(&grant),
            user: terms.user,
            token: terms.token,
            received,
            event: RequestReceived {
                signer: Some(terms.user.to_string()),
                nonce: Some(grant.nonce.clone()),
                expiry: Some(grant.expiry),
                signature: Some(grant.signature.clone()),
                grant: Some(digest.to_string()),
            },
            input: value,
        };
        self.serve(caller, model, Some(input), gateway_root, deltas, t).await
    }

    /// Release the token's key for `caller`, open the token's data inside, run the
    /// model on it, and sign the receipt.
    async fn serve(
        self: &Arc<Self>,
        caller: Caller<'_>,
        model: Arc<Loaded>,
        chat: Option<ChatInput>,
        gateway_root: Root,
        deltas: Option<Deltas>,
        t: &mut Timings,
    ) -> Result<JobResponse, JobError> {
        let Caller { proof, user, token, received, event: request_event, input } = caller;
        let user_s = user.to_string();
        t.lap("signature");
        let TokenData { session, data_root, identity, sealed, events: access } =
            self.token_data(token, &user_s, proof, gateway_root, t).await?;
        let token_identity = identity;
        let selection = input.clone();
        let clock = self.clock;
        let (computed, model_at, opened, inferred) = tokio::task::spawn_blocking({
            let model = model.clone();
            move || -> Result<_, JobError> {
                let began = Instant::now();
                let mut plain = Zeroizing::new(Vec::with_capacity(sealed.len()));
                veil_seal::open(sealed.as_slice(), &mut *plain, &token_identity).map_err(|e| {
                    data_integrity(format!("the token's data does not open with the token's key: {e}"))
                })?;
                let model_at =
                    OffsetDateTime::from_unix_timestamp(clock() as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH);
                if let (Engine::Llm(llm), Some(chat)) = (&model.engine, &chat) {
                    let opened = began.elapsed();
                    let mut on_delta = |piece: &str| {
                        deltas.as_ref().is_none_or(|tx| tx.blocking_send(piece.to_owned()).is_ok())
                    };
                    let answer = crate::chat::answer(llm, &model.entry.name, chat, &plain, &mut on_delta)?;
                    return Ok((
                        Computed::Chat(Box::new(answer)),
                        model_at,
                        opened,
                        began.elapsed() - opened,
                    ));
                }
                let onnx = model.onnx()?;
                let text = std::str::from_utf8(&plain)
                    .map_err(|_| bad_input("the token's data is not UTF-8 text"))?;
                let table = Table::parse(text).map_err(|e| bad_input(e.to_string()))?;
                if table.features() != onnx.features() {
                    return Err(bad_input(format!(
                        "model {} takes {} features; the token's records have {}",
                        model.entry.name,
                        onnx.features(),
                        table.features()
                    )));
                }
                let (ids, x) = table.select(&selection, MAX_ROWS).map_err(|e| match e {
                    TableError::Selection(m) | TableError::Shape(m) => bad_input(m),
                })?;
                let opened = began.elapsed();
                let output = predict(&model, Some(&ids), &x)?;
                let computed = Computed::Predictions { output, rows: ids.len() };
                Ok((computed, model_at, opened, began.elapsed() - opened))
            }
        })
        .await
        .map_err(|_| internal("the job task failed"))??;
        t.lap("compute");
        t.add("open_parse", opened);
        t.add("inference", inferred);
        let done = self.now();
        let mut events = vec![Event::of(received, &request_event)];
        events.extend(access);
        events.push(Event::of(
            model_at,
            &ModelLoaded { weights_hash: model.entry.root, name: model.entry.name.clone() },
        ));
        let (output, context) = match computed {
            Computed::Predictions { output, rows } => {
                events.push(Event::of(done, &InferenceCompleted { rows: rows as u64 }));
                (JobOutput::Predictions(output), data_root)
            }
            Computed::Chat(answer) => {
                events.push(Event::of(done, &answer.event));
                (JobOutput::Chat(answer.output), answer.context_root)
            }
        };
        let shown = Shown {
            mode: Mode::Tee,
            subject: Some(user_s),
            input_hash: jcs_root(&input)?,
            context: Some(context),
        };
        let answer = self.finish(shown, model.entry.root, output, events, &session);
        t.lap("receipt");
        answer
    }

    /// Have the broker release `token`'s key for `user` (whose `proof` it checks and
    /// whose authorization it reads on the chain this worker serves), then fetch the
    /// sealed data at the root the broker read, still sealed.
    pub(crate) async fn token_data(
        &self,
        token: TokenId,
        user_s: &str,
        proof: UserProof<'_>,
        gateway_root: Root,
        t: &mut Timings,
    ) -> Result<TokenData, JobError> {
        let (released, session) = self.release_token(token, user_s, proof).await?;
        t.lap("key_release");
        let released_at = self.now();
        let authz = released
            .authorization
            .clone()
            .ok_or_else(|| internal("the broker released a token key without an authorization"))?;
        if !authz.user.eq_ignore_ascii_case(user_s) {
            return Err(JobError::KeyRefused(format!(
                "the broker authorized {}, the request is {user_s}'s",
                authz.user
            )));
        }
        // The data is what the chain named at the block the broker read, not what
        // the gateway said.
        let data_root = *authz.data.first().ok_or_else(|| {
            data_integrity(format!("the chain names no data for token {token} where the broker read it"))
        })?;
        if data_root != gateway_root {
            tracing::warn!(%data_root, %gateway_root, "the gateway named another data root than the chain; using the chain's");
        }
        let chain = authz.chain.clone().ok_or_else(|| {
            JobError::KeyRefused("the broker's authorization did not come from a chain".into())
        })?;
        let contract_ok = chain.contract.parse::<Address>().is_ok_and(|a| a == self.config.inft);
        if chain.chain_id != self.config.chain_id || !contract_ok {
            return Err(JobError::KeyRefused(format!(
                "the broker read chain {} INFT {}, this worker serves chain {} INFT {}",
                chain.chain_id, chain.contract, self.config.chain_id, self.config.inft
            )));
        }
        let identity = KmsClient::open_token_identity(&self.identity, &released)
            .map_err(|e| JobError::KeyUnavailable(e.to_string()))?;

        let sealed = self.store.get_bytes(&data_root, MAX_DATA_BYTES).await.map_err(|e| {
            data_integrity(format!("the token's sealed data {data_root} could not be loaded intact: {e}"))
        })?;
        let data_loaded = self.now();
        t.lap("data_fetch");
        let events = vec![
            Event::of(
                released_at,
                &NftAuthorized {
                    chain_id: chain.chain_id,
                    contract: chain.contract.clone(),
                    token: token.to_string(),
                    user: user_s.to_owned(),
                    block: authz.block,
                },
            ),
            Event::of(
                released_at,
                &KeyReleased { resource: released.resource.clone(), decision: released.decision.clone() },
            ),
            Event::of(data_loaded, &DataLoaded { root: data_root, bytes: sealed.len() as u64 }),
        ];
        Ok(TokenData { session, data_root, identity, sealed, events })
    }

    async fn direct_job(
        self: &Arc<Self>,
        root: Root,
        rows: Vec<Vec<f32>>,
        t: &mut Timings,
    ) -> Result<JobResponse, JobError> {
        let received = self.now();
        let model = self.model(&root).await?;
        let width = model.onnx()?.features();
        if rows.is_empty() || rows.len() > MAX_ROWS {
            return Err(bad_input(format!("send 1 to {MAX_ROWS} rows, not {}", rows.len())));
        }
        if let Some(bad) = rows.iter().position(|r| r.len() != width || r.iter().any(|v| !v.is_finite())) {
            return Err(bad_input(format!("row {bad} is not {width} finite numbers")));
        }
        let session = self.session().await?;
        let input = json!({ "rows": rows });
        let x: Vec<f32> = rows.concat();
        let output = tokio::task::spawn_blocking({
            let model = model.clone();
            move || predict(&model, None, &x)
        })
        .await
        .map_err(|_| internal("the job task failed"))??;
        let done = self.now();
        let events = vec![
            Event::of(received, &RequestReceived::default()),
            Event::of(
                received,
                &ModelLoaded { weights_hash: model.entry.root, name: model.entry.name.clone() },
            ),
            Event::of(done, &InferenceCompleted { rows: rows.len() as u64 }),
        ];
        t.lap("compute");
        let shown = Shown { mode: Mode::Tee, subject: None, input_hash: jcs_root(&input)?, context: None };
        let answer = self.finish(shown, model.entry.root, JobOutput::Predictions(output), events, &session);
        t.lap("receipt");
        answer
    }

    async fn fhe_job(
        self: &Arc<Self>,
        root: Root,
        query: String,
        t: &mut Timings,
    ) -> Result<JobResponse, JobError> {
        let received = self.now();
        let model = self.model(&root).await?;
        model.fhe()?;
        let session = self.session().await?;
        let evaluated = tokio::task::spawn_blocking({
            let model = model.clone();
            move || crate::fhe::evaluate(model.fhe()?, &query)
        })
        .await
        .map_err(|_| internal("the job task failed"))??;
        t.lap("compute");
        let engine = model.fhe()?;
        let params = engine.set.hash_hex();
        let events = vec![
            Event::of(received, &RequestReceived::default()),
            Event::of(
                received,
                &ModelLoaded { weights_hash: model.entry.root, name: model.entry.name.clone() },
            ),
            Event::of(
                self.now(),
                &FheEvaluated {
                    scheme: "bfv".into(),
                    params_hash: params.clone(),
                    evaluation_key_hash: None,
                    query_hash: evaluated.query_hash,
                    answer_hash: evaluated.answer_hash,
                    rows: evaluated.rows as u64,
                },
            ),
        ];
        let output = JobOutput::Fhe(FheOutput {
            model: model.entry.name.clone(),
            weights: model.entry.root,
            params,
            rows: evaluated.rows,
            answer: evaluated.answer,
        });
        let shown = Shown { mode: Mode::Fhe, subject: None, input_hash: evaluated.query_hash, context: None };
        let answer = self.finish(shown, model.entry.root, output, events, &session);
        t.lap("receipt");
        answer
    }

    pub(crate) fn finish(
        &self,
        shown: Shown,
        model: Root,
        output: JobOutput,
        mut events: Vec<Event>,
        session: &Session,
    ) -> Result<JobResponse, JobError> {
        let Shown { mode, subject, input_hash, context } = shown;
        let now = self.now();
        let output_hash = jcs_root(&serde_json::to_value(&output).map_err(|e| internal(e.to_string()))?)?;
        events.push(Event::of(now, &ResponseReturned { body_hash: output_hash }));
        let mut receipt = Receipt::new(mode, input_hash, output_hash, now);
        receipt.subject = subject;
        receipt.model_hash = Some(model);
        receipt.context_hash = context;
        receipt.events = events;
        let receipt = self.sign(receipt, session)?;
        Ok(JobResponse { output, receipt })
    }

    /// Sign `receipt` with this enclave's key, naming its policy and evidence.
    pub(crate) fn sign(&self, mut receipt: Receipt, session: &Session) -> Result<SignedReceipt, JobError> {
        receipt.policy_id = Some(format!("kms/measurement/{}", self.measurement));
        receipt.evidence = Some(json!({ "attestation": session.evidence, "measurement": self.measurement }));
        receipt.dev_root = session.dev_root;
        veil_receipt::sign(receipt, &self.identity.signing_key()).map_err(|e| internal(e.to_string()))
    }

    /// The current time, as receipts state it.
    pub(crate) fn time(&self) -> OffsetDateTime {
        self.now()
    }
}

/// What a receipt states about a job besides its model and output.
pub(crate) struct Shown {
    pub(crate) mode: Mode,
    pub(crate) subject: Option<String>,
    /// Root of the input: the JCS bytes of a plaintext input, a query's own bytes.
    pub(crate) input_hash: Root,
    pub(crate) context: Option<Root>,
}

pub(crate) fn jcs_root(v: &Value) -> Result<Root, JobError> {
    let bytes = veil_jcs::to_canonical_vec(v).map_err(|e| internal(e.to_string()))?;
    root_of(&bytes).map_err(|e| internal(e.to_string()))
}

/// Run `model` on flattened rows `x`; one prediction per row with its label.
fn predict(model: &Loaded, ids: Option<&[String]>, x: &[f32]) -> Result<InferenceOutput, JobError> {
    let onnx = model.onnx()?;
    let width = onnx.features();
    let rows = x.len() / width.max(1);
    let out = onnx.run(rows, x).map_err(|e| bad_input(e.to_string()))?;
    let mut predictions = Vec::with_capacity(rows);
    for i in 0..rows {
        let p =
            out.row("probabilities", i).ok_or_else(|| internal("the model has no probabilities output"))?;
        let (class, _) =
            p.iter().enumerate().fold((0, f32::MIN), |best, (k, &v)| if v > best.1 { (k, v) } else { best });
        predictions.push(Prediction {
            class,
            id: ids.map(|ids| ids[i].clone()),
            label: model.entry.classes.get(class).cloned().unwrap_or_else(|| class.to_string()),
            // Six decimals: enough to read, and the same on every platform.
            probabilities: p.iter().map(|&v| (f64::from(v) * 1e6).round() / 1e6).collect(),
        });
    }
    Ok(InferenceOutput { model: model.entry.name.clone(), predictions, weights: model.entry.root })
}

#[cfg(test)]
mod tests {
    //! Issue 14, finding 6: the session with the broker expired, the next job was
    //! refused ("no session") and its user's nonce was spent; a broker that was down
    //! during a re-attest left the worker refusing every job until restarted.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use axum::{Json, Router};
    use ed25519_dalek::Signer as _;
    use veil_protocol::kms::{
        AttestRequest, Challenge, ResourceRequest, SealedResource, SessionGrant, grant_message,
    };

    use super::*;

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    /// A broker that grants every attestation a session of `ttl` seconds, honours live
    /// sessions, signs its releases with `key`, and can be taken down (it then answers
    /// 503 without a problem document).
    struct Fake {
        ttl: u64,
        up: bool,
        key: ed25519_dalek::SigningKey,
        /// Session → (expiry, the enclave's HPKE key).
        sessions: HashMap<String, (u64, String)>,
        attests: usize,
        /// Resource requests that named a dead session.
        dead: usize,
    }
    type Shared = Arc<Mutex<Fake>>;

    async fn challenge(State(f): State<Shared>) -> Response {
        if !f.lock().unwrap().up {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Json(Challenge { nonce: "ab".repeat(32), expires_at: now() + 60 }).into_response()
    }

    async fn attest(State(f): State<Shared>, Json(a): Json<AttestRequest>) -> Response {
        let mut f = f.lock().unwrap();
        if !f.up {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        f.attests += 1;
        let id = format!("s{}", f.attests);
        let expires_at = now() + f.ttl;
        let hpke = a.evidence.runtime_data.unwrap().public_keys["hpke"].clone();
        f.sessions.insert(id.clone(), (expires_at, hpke));
        Json(SessionGrant {
            session: id,
            expires_at,
            tee: veil_evidence::Tee::Tdx,
            measurement: "00".into(),
            dev_root: true,
        })
        .into_response()
    }

    async fn resource(State(f): State<Shared>, Json(r): Json<ResourceRequest>) -> Response {
        let mut f = f.lock().unwrap();
        if !f.up {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        let Some((_, hpke)) = f.sessions.get(&r.session).filter(|(e, _)| *e > now()).cloned() else {
            f.dead += 1;
            let p = Problem::new(StatusCode::UNAUTHORIZED, ErrorCode::KmsSession, "no session");
            return veil_http::problem_response(p);
        };
        let mut g = SealedResource {
            resource: r.resource,
            sealed_key: String::new(),
            authorization: None,
            dev_root: true,
            decision: String::new(),
            signature: String::new(),
        };
        g.signature = hex::encode(f.key.sign(&grant_message(&g, &hpke).unwrap()).to_bytes());
        Json(g).into_response()
    }

    /// A worker trusting the broker key `trusted`, and a fake broker signing with `key`.
    async fn worker_with(
        ttl: u64,
        key: [u8; 32],
        trusted: [u8; 32],
    ) -> (Arc<Worker>, Shared, tempfile::TempDir) {
        worker_full(ttl, key, trusted, "00").await
    }

    /// A worker whose reference measurement is `measurement` (the fake broker sees "00").
    async fn worker_measured(ttl: u64, measurement: &str) -> (Arc<Worker>, Shared, tempfile::TempDir) {
        worker_full(ttl, [4; 32], [4; 32], measurement).await
    }

    async fn worker_full(
        ttl: u64,
        key: [u8; 32],
        trusted: [u8; 32],
        measurement: &str,
    ) -> (Arc<Worker>, Shared, tempfile::TempDir) {
        let fake: Shared = Arc::new(Mutex::new(Fake {
            ttl,
            up: true,
            key: ed25519_dalek::SigningKey::from_bytes(&key),
            sessions: HashMap::new(),
            attests: 0,
            dead: 0,
        }));
        let app = Router::new()
            .route("/v1/kms/challenge", post(challenge))
            .route("/v1/kms/attest", post(attest))
            .route("/v1/kms/resource", post(resource))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let pki = veil_sim_tee::DevPki::from_seed(&[7; 32]).unwrap();
        let attester = veil_sim_tee::SimTdx::new(
            Arc::new(pki),
            veil_sim_tee::SimMeasurement::from_digests([1; 48], [2; 48], &[3; 32]),
        );
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local(veil_store::LocalStore::open(dir.path()).unwrap());
        let config = WorkerConfig {
            chain_id: 1,
            inft: Address::ZERO,
            models: vec![],
            kms_key: hex::encode(ed25519_dalek::SigningKey::from_bytes(&trusted).verifying_key().as_bytes()),
        };
        let w =
            Worker::start(config, Arc::new(attester), measurement.into(), KmsClient::new(url), store, now)
                .await
                .unwrap();
        (Arc::new(w), fake, dir)
    }

    async fn worker(ttl: u64) -> (Arc<Worker>, Shared, tempfile::TempDir) {
        worker_with(ttl, [4; 32], [4; 32]).await
    }

    const USER: &str = "0x00000000000000000000000000000000000000aa";

    /// What the worker forwards (the fake broker does not read it).
    fn request() -> SignedRequest {
        let who = alloy::signers::local::PrivateKeySigner::random();
        SignedRequest::sign(
            &who,
            &veil_protocol::domain(1, Address::ZERO),
            alloy::primitives::U256::from(1u64),
            Root([3; 32]),
            json!({ "ids": ["1"] }),
            alloy::primitives::U256::from(1u64),
            now() + 60,
        )
        .unwrap()
    }

    /// On hardware the measurement is the operator's reference value: one the broker
    /// does not see is a refusal, not receipts naming the wrong measurement.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reference_measurement_the_broker_does_not_see_is_refused() {
        let (w, _fake, _dir) = worker_measured(60, "ff").await;
        let Err(e) = w.release_token(TokenId::from(1u64), USER, (&request()).into()).await else {
            panic!("served under a measurement the broker did not see");
        };
        assert!(
            matches!(&e, JobError::AttestationRefused(p) if p.code == ErrorCode::AttestationMeasurement),
            "{e}"
        );
        assert_eq!(w.health().status, "attestation_refused");
    }

    /// Issue 14, finding 5: anyone could seal a key to the worker's HPKE key and
    /// answer in the broker's place; the worker took it and said `key.released`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_release_not_signed_by_the_configured_broker_is_refused() {
        let (w, _fake, _dir) = worker_with(60, [5; 32], [4; 32]).await;
        let Err(e) = w.release_token(TokenId::from(1u64), USER, (&request()).into()).await else {
            panic!("a stranger's release was taken");
        };
        assert!(
            matches!(&e, JobError::KeyRefused(m) if m.contains("not signed by the trusted key broker")),
            "{e}"
        );
        // The configured broker's own release is taken.
        let (w, _fake, _dir) = worker(60).await;
        w.release_token(TokenId::from(1u64), USER, (&request()).into()).await.expect("the trusted broker");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_session_is_renewed_inside_the_job_that_finds_it() {
        let (w, fake, _dir) = worker(2).await;
        assert_eq!(fake.lock().unwrap().attests, 1);
        w.release_token(TokenId::from(1u64), USER, (&request()).into()).await.expect("within the session");
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // The session is dead: the job attests again and is served.
        w.release_token(TokenId::from(1u64), USER, (&request()).into())
            .await
            .expect("served after the session lapsed");
        assert_eq!(fake.lock().unwrap().attests, 2);
        // A broker that forgot the session (it restarted) is the same case.
        fake.lock().unwrap().sessions.clear();
        w.release_token(TokenId::from(1u64), USER, (&request()).into())
            .await
            .expect("served after the broker forgot");
        assert_eq!(fake.lock().unwrap().attests, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_recovers_by_itself_when_the_broker_comes_back() {
        let (w, fake, _dir) = worker(2).await;
        tokio::spawn(w.clone().keep_session());
        fake.lock().unwrap().up = false;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // Down, with the session expired: the job is refused, the worker says why.
        let Err(e) = w.release_token(TokenId::from(1u64), USER, (&request()).into()).await else {
            panic!("served with the broker down");
        };
        assert!(matches!(&e, JobError::AttestationRefused(p) if p.code == ErrorCode::KmsUnreachable), "{e}");
        assert_eq!(w.health().status, "attestation_refused");
        // The broker comes back: no restart, no job needed; the worker is ready again.
        fake.lock().unwrap().up = true;
        let mut ready = false;
        for _ in 0..100 {
            if w.health().status == "ready" {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "the background renewal re-attested");
        w.release_token(TokenId::from(1u64), USER, (&request()).into()).await.expect("served");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_is_renewed_before_it_expires() {
        let (w, fake, _dir) = worker(3).await;
        tokio::spawn(w.clone().keep_session());
        // Renewal at two thirds of its life: after ~2 s a second session exists, and
        // at no moment is the worker without a live one.
        for _ in 0..35 {
            w.release_token(TokenId::from(1u64), USER, (&request()).into()).await.expect("always served");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let f = fake.lock().unwrap();
        assert!(f.attests >= 2, "renewed in the background ({} attestations)", f.attests);
        assert_eq!(f.dead, 0, "no job ever presented an expired session");
    }

    /// A grant the worker cannot verify, or one that does not allow the job's model,
    /// is refused before any key is asked for: the gateway's checks are not trusted.
    #[tokio::test]
    async fn a_grant_is_checked_by_the_worker_itself() {
        let (w, _fake, _dir) = worker(300).await;
        let who = alloy::signers::local::PrivateKeySigner::random();
        let grant = |domain: &Eip712Domain, expiry: u64| {
            SignedAccessGrant::sign(
                &who,
                domain,
                TokenId::from(1),
                Root([3; 32]),
                64,
                alloy::primitives::U256::from(9u64),
                expiry,
            )
            .unwrap()
        };
        let ours = veil_protocol::domain(1, Address::ZERO);
        let input: ChatInput =
            serde_json::from_value(json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap();
        let job = |grant: SignedAccessGrant, model: Root| JobRequest::Chat {
            grant,
            model,
            input: input.clone(),
            data_root: Root([8; 32]),
            stream: false,
        };
        let run = |job| {
            let w = w.clone();
            async move { w.run(job).await.map(|_| ()).unwrap_err() }
        };
        let e = run(job(grant(&ours, now() + 60), Root([4; 32]))).await;
        assert!(matches!(e, JobError::GrantLimit(_)), "another model: {e}");
        let e = run(job(grant(&ours, now() - 1), Root([3; 32]))).await;
        assert!(matches!(e, JobError::Request(RequestError::Expired { .. })), "expired: {e}");
        let theirs = veil_protocol::domain(2, Address::ZERO);
        let e = run(job(grant(&theirs, now() + 60), Root([3; 32]))).await;
        assert!(matches!(e, JobError::Request(RequestError::Signature(_))), "another chain: {e}");
        // A good grant for a model this worker does not serve: unknown, still no key.
        let e = run(job(grant(&ours, now() + 60), Root([3; 32]))).await;
        assert!(matches!(e, JobError::ModelUnknown(_)), "{e}");
        assert_eq!(w.health().running, 0, "refused jobs do not stay counted as running");
    }

    /// The chain key signs settlements only over this enclave's own marketplace
    /// receipts, each once, all charging the one user for the one provider: a receipt
    /// another key signed, one whose fee was raised after signing, a duplicate, or
    /// another user's is refused, and nothing is signed.
    #[tokio::test]
    async fn a_settlement_covers_only_this_enclaves_receipts_once_each() {
        use alloy::primitives::U256;
        use alloy::sol_types::SolStruct;
        use veil_protocol::market::{SettleRequest, TEESettlement, serving_domain};
        use veil_receipt::events::MarketCharged;

        let (w, _fake, _dir) = worker(3600).await;
        let user: Address = USER.parse().unwrap();
        let provider = Address::repeat_byte(9);
        let at = OffsetDateTime::UNIX_EPOCH;
        let receipt = |key: &ed25519_dalek::SigningKey, subject: &str, fee: &str, n: u8| {
            let mut r = Receipt::new(Mode::Tee, Root([n; 32]), Root([2; 32]), at);
            r.subject = Some(subject.to_owned());
            r.events = vec![Event::of(
                at,
                &MarketCharged {
                    provider: provider.to_checksum(None),
                    chat_id: format!("chatcmpl-{n}"),
                    input_price: "1".into(),
                    output_price: "2".into(),
                    prompt_tokens: 3,
                    completion_tokens: 4,
                    fee: fee.into(),
                },
            )];
            veil_receipt::sign(r, key).unwrap()
        };
        let own = w.identity.signing_key();
        let (a, b) = (receipt(&own, USER, "11", 1), receipt(&own, USER, "11", 2));
        let req = |receipts: Vec<veil_receipt::SignedReceipt>| SettleRequest {
            chain_id: 7,
            serving: Address::repeat_byte(5),
            user,
            provider,
            nonce: U256::from(3),
            receipts,
        };
        let signed = w.sign_settlement(&req(vec![a.clone(), b.clone()])).expect("own receipts settle");
        assert_eq!(signed.total_fee, U256::from(22));
        let digest = TEESettlement {
            user,
            provider,
            totalFee: signed.total_fee,
            requestsHash: signed.requests_hash,
            nonce: U256::from(3),
        }
        .eip712_signing_hash(&serving_domain(7, Address::repeat_byte(5)));
        let sig: alloy::primitives::Signature = signed.signature.parse().unwrap();
        assert_eq!(sig.recover_address_from_prehash(&digest).unwrap(), w.chain_key.address());

        // A host that had that settlement paid cannot have the same receipts signed
        // again under a higher nonce (a second payment); a retry under the same nonce
        // (the chain pays a nonce once) is signed again, with a new receipt too.
        let again = SettleRequest { nonce: U256::from(4), ..req(vec![b.clone()]) };
        let e = w.sign_settlement(&again).unwrap_err();
        assert!(matches!(e, JobError::BadInput(ref m) if m.contains("nonce 3")), "{e}");
        let c = receipt(&own, USER, "5", 6);
        let retry =
            w.sign_settlement(&req(vec![a.clone(), b.clone(), c.clone()])).expect("a retry at nonce 3");
        assert_eq!(retry.total_fee, U256::from(27));
        let next = SettleRequest { nonce: U256::from(5), ..req(vec![receipt(&own, USER, "1", 7)]) };
        assert!(w.sign_settlement(&next).is_ok(), "new receipts under a new nonce");

        let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let mut raised = a.clone();
        raised.receipt.events[0] = Event::of(
            at,
            &MarketCharged {
                provider: provider.to_checksum(None),
                chat_id: "chatcmpl-1".into(),
                input_price: "1".into(),
                output_price: "2".into(),
                prompt_tokens: 3,
                completion_tokens: 4,
                fee: "9999".into(),
            },
        );
        assert_ne!(serde_json::to_string(&raised).unwrap(), serde_json::to_string(&a).unwrap());
        let other_user = "0x00000000000000000000000000000000000000bb";
        for (why, receipts) in [
            ("another key's", vec![a.clone(), receipt(&stranger, USER, "11", 3)]),
            ("a raised fee", vec![raised.clone()]),
            ("twice", vec![a.clone(), a.clone()]),
            ("another user's", vec![receipt(&own, other_user, "11", 4)]),
            ("none", vec![]),
        ] {
            let e = w.sign_settlement(&req(receipts)).unwrap_err();
            assert!(matches!(e, JobError::BadInput(_)), "{why}: {e}");
        }
        assert!(w.sign_market_receipt(&a).is_ok());
        assert!(matches!(w.sign_market_receipt(&raised), Err(JobError::BadInput(_))));
        assert!(matches!(
            w.sign_market_receipt(&receipt(&stranger, USER, "1", 5)),
            Err(JobError::BadInput(_))
        ));
    }
}
