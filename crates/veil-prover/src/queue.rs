//! Jobs, their states, and the proving thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use veil_content::{Root, root_of};
use veil_protocol::ErrorCode;
use veil_receipt::events::{RequestReceived, ResponseReturned, ZkProof};
use veil_receipt::{Event, Mode, Receipt, SignedReceipt};
use veil_seal::Identity;
use veil_zk::groth::{self, Keys};
use veil_zk::income::IncomeThreshold;
use veil_zk::mlp::{Inference, Network, WeightMode};
use veil_zk::{ZkError, snarkjs};

use crate::ProverError;

/// The circuit id receipts name for the income-threshold statement.
pub const ZK_CIRCUIT_INCOME: &str = veil_zk::income::CIRCUIT_ID;
/// The circuit id receipts name for int8 network inference.
pub const ZK_CIRCUIT_MLP: &str = veil_zk::mlp::CIRCUIT_ID;

/// The income circuit a prover serves.
pub struct IncomeCircuit {
    /// Its keys.
    pub keys: Keys,
    /// Its slot count (the keys' shape).
    pub slots: usize,
}

/// The inference circuit a prover serves: one network, one mode.
pub struct InferenceCircuit {
    /// Its keys.
    pub keys: Keys,
    /// The network (its weights are the prover's, whatever the mode).
    pub network: Network,
    /// Whether the weights are compiled in or private.
    pub mode: WeightMode,
    /// The model's name.
    pub name: String,
    /// The 0G root of the model file the network was quantised from.
    pub model_root: Option<Root>,
    /// Per feature, to quantise raw features (0 ignores the feature); empty when
    /// only int8 inputs are taken.
    pub input_scales: Vec<f64>,
}

/// A private inference request, after opening: int8 `input` or raw `features`,
/// and the salt of the input commitment.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InferenceInput {
    #[serde(default)]
    input: Option<Vec<i8>>,
    #[serde(default)]
    features: Option<Vec<f64>>,
    salt: String,
}

enum Statement {
    Income(IncomeThreshold),
    Inference(Inference),
}

/// Where a job is.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the prover.
    Queued,
    /// Being proved.
    Running,
    /// Done: the proof, its public inputs and the receipt.
    Done {
        /// The circuit id.
        circuit: String,
        /// snarkjs `proof.json`.
        proof: Value,
        /// snarkjs `public.json`.
        public: Value,
        /// What the proof commits to beyond its public inputs (an inference's
        /// outputs and class), for the requester.
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<Box<Value>>,
        /// The signed receipt.
        receipt: Box<SignedReceipt>,
        /// The receipt's inclusion in the transparency log, when the prover logs.
        #[serde(skip_serializing_if = "Option::is_none")]
        inclusion: Option<Box<veil_protocol::Inclusion>>,
    },
    /// It failed; the job is not silently dropped.
    Failed {
        /// Stable code.
        code: ErrorCode,
        /// What happened.
        detail: String,
    },
    /// Cancelled before it ran.
    Cancelled,
}

/// A job as the prover keeps it: its state, who may see it, and since when it is over.
struct Job {
    state: JobState,
    /// SHA-256 of the capability only the submitter was given.
    capability: [u8; 32],
    /// Unix seconds it finished (done, failed or cancelled), for retention.
    finished_at: Option<u64>,
}

/// How long a finished job is kept for its submitter to collect.
pub const JOB_RETENTION_SECS: u64 = 3600;
/// The most jobs kept at once (queued, running and finished).
pub const MAX_JOBS: usize = 10_000;
/// How far ahead a sealed statement's expiry may be.
pub const MAX_STATEMENT_TTL_SECS: u64 = 600;

/// What every sealed statement carries besides its circuit's fields: a nonce the prover
/// accepts once and an expiry at most [`MAX_STATEMENT_TTL_SECS`] ahead, so a captured
/// statement cannot be replayed. The nonces need outlive only their expiry and the
/// prover's HPKE key (a new one at every start), so they are kept in memory.
#[derive(serde::Deserialize)]
struct Envelope {
    nonce: String,
    expires_at: u64,
    #[serde(flatten)]
    statement: serde_json::Map<String, Value>,
}

/// A job accepted: its id, and the capability its submitter presents to read, verify
/// or cancel it (shown once, never stored).
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The job id.
    pub id: String,
    /// 32 random bytes, hex.
    pub capability: String,
}

fn capability_hash(capability: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(capability.as_bytes()).into()
}

struct Work {
    id: String,
    statement: Statement,
    context: Root,
    received: OffsetDateTime,
}

/// Where a prover runs, as evidence: its attester and the measurement it expects.
pub struct ProverAttestation {
    /// Quotes over report data (a simulated or real TEE).
    pub attester: std::sync::Arc<dyn veil_attester::Attester>,
    /// The measurement verifiers should see (hex).
    pub measurement: String,
}

/// What a prover is built from.
pub struct ProverParts {
    /// Its attester; without one `/v1/attestation` answers 503.
    pub attestation: Option<ProverAttestation>,
    /// Its identity: statements are sealed to it, receipts signed by it.
    pub identity: Identity,
    /// The income-threshold circuit, if served.
    pub income: Option<IncomeCircuit>,
    /// The inference circuit, if served.
    pub inference: Option<InferenceCircuit>,
    /// Jobs that may wait.
    pub queue_capacity: usize,
    /// Unix seconds.
    pub clock: fn() -> u64,
    /// Where each receipt goes before its proof is handed out; none for a prover that
    /// runs without a transparency log.
    pub log: Option<ReceiptLog>,
}

/// Submit a receipt's bytes to a transparency log and wait until it is durable (called
/// on the proving thread).
pub type ReceiptLog = Box<dyn Fn(&[u8]) -> Result<veil_protocol::Inclusion, String> + Send + Sync>;

/// The prover: job table, queue, measured proving time.
pub struct Prover {
    identity: Identity,
    /// The secp256k1 key completions are signed with on chain: made here at start,
    /// never leaves (registration evidence binds its address).
    completion_key: alloy::signers::local::PrivateKeySigner,
    attestation: Option<ProverAttestation>,
    income: Option<Served<usize>>,
    inference: Option<Served<InferenceMeta>>,
    jobs: Mutex<HashMap<String, Job>>,
    /// Statement nonces seen, with their expiry.
    nonces: Mutex<HashMap<String, u64>>,
    tx: SyncSender<Work>,
    waiting: AtomicUsize,
    running: AtomicUsize,
    /// Exponentially weighted proving time, milliseconds.
    ewma_ms: AtomicU64,
    clock: fn() -> u64,
    log: Option<ReceiptLog>,
}

/// A circuit's public half and what the server says about it.
struct Served<T> {
    vk: ark_groth16::VerifyingKey<ark_bn254::Bn254>,
    vk_json: Value,
    vk_hash: Root,
    meta: T,
}

struct InferenceMeta {
    network: Network,
    mode: WeightMode,
    name: String,
    model_root: Option<Root>,
    input_scales: Vec<f64>,
    commitment: String,
}

fn served<T>(vk: &ark_groth16::VerifyingKey<ark_bn254::Bn254>, meta: T) -> Result<Served<T>, ZkError> {
    let vk_json = snarkjs::vk_to_json(vk);
    Ok(Served { vk: vk.clone(), vk_hash: snarkjs::vk_hash(&vk_json)?, vk_json, meta })
}

fn jcs_root(v: &Value) -> Result<Root, ZkError> {
    let bytes = veil_jcs::to_canonical_vec(v).map_err(|e| ZkError::Input(e.to_string()))?;
    root_of(&bytes).map_err(|e| ZkError::Input(e.to_string()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Prover {
    /// Start the proving thread; refused when the inference network is unusable.
    pub fn start(parts: ProverParts) -> Result<Arc<Self>, ZkError> {
        let (tx, rx) = sync_channel::<Work>(parts.queue_capacity.max(1));
        let income = parts.income.as_ref().map(|c| served(&c.keys.vk, c.slots)).transpose()?;
        let inference = match &parts.inference {
            Some(c) => {
                if !c.input_scales.is_empty() && c.input_scales.len() != c.network.features() {
                    return Err(ZkError::Input("one input scale per feature".into()));
                }
                let meta = InferenceMeta {
                    commitment: c.network.hash()?.to_string(),
                    network: c.network.clone(),
                    mode: c.mode,
                    name: c.name.clone(),
                    model_root: c.model_root,
                    input_scales: c.input_scales.clone(),
                };
                Some(served(&c.keys.vk, meta)?)
            }
            None => None,
        };
        let prover = Arc::new(Self {
            identity: parts.identity,
            completion_key: alloy::signers::local::PrivateKeySigner::random(),
            attestation: parts.attestation,
            income,
            inference,
            jobs: Mutex::new(HashMap::new()),
            nonces: Mutex::new(HashMap::new()),
            tx,
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            ewma_ms: AtomicU64::new(0),
            clock: parts.clock,
            log: parts.log,
        });
        let weak = Arc::downgrade(&prover);
        let income_pk = parts.income.map(|c| (c.keys.pk, c.keys.reduction));
        let inference_pk = parts.inference.map(|c| (c.keys.pk, c.keys.reduction));
        std::thread::Builder::new()
            .name("veil-prover".into())
            .spawn(move || {
                for work in rx {
                    let Some(p) = weak.upgrade() else { break };
                    p.waiting.fetch_sub(1, Ordering::AcqRel);
                    match lock(&p.jobs).get_mut(&work.id) {
                        Some(job) if matches!(job.state, JobState::Queued) => job.state = JobState::Running,
                        // Cancelled, or pruned: nobody is waiting for it.
                        _ => continue,
                    }
                    p.running.fetch_add(1, Ordering::AcqRel);
                    let started = Instant::now();
                    let id = work.id.clone();
                    let pk = match work.statement {
                        Statement::Income(_) => income_pk.as_ref(),
                        Statement::Inference(_) => inference_pk.as_ref(),
                    };
                    let state = match pk.map(|(pk, reduction)| p.prove(pk, *reduction, work)) {
                        Some(Ok(done)) => done,
                        Some(Err(e)) => {
                            JobState::Failed { code: crate::error::zk_code(&e), detail: e.to_string() }
                        }
                        None => JobState::Failed {
                            code: ErrorCode::ZkUnknownCircuit,
                            detail: "this prover has no key for the circuit".into(),
                        },
                    };
                    p.record(started.elapsed());
                    p.running.fetch_sub(1, Ordering::AcqRel);
                    if let Some(job) = lock(&p.jobs).get_mut(&id) {
                        job.state = state;
                        job.finished_at = Some((p.clock)());
                    }
                }
            })
            .map_err(|e| ZkError::Groth16(format!("spawning the proving thread: {e}")))?;
        Ok(prover)
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp((self.clock)() as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn record(&self, took: Duration) {
        let ms = took.as_millis().min(u128::from(u64::MAX)) as u64;
        let old = self.ewma_ms.load(Ordering::Relaxed);
        self.ewma_ms.store(if old == 0 { ms } else { (old * 3 + ms) / 4 }, Ordering::Relaxed);
    }

    /// The key statements are sealed to.
    pub fn public_key(&self) -> veil_seal::PublicKey {
        self.identity.public_key()
    }

    /// The receipt-signing key (hex).
    pub fn signing_key_hex(&self) -> String {
        hex::encode(self.identity.signing_key().verifying_key().to_bytes())
    }

    /// What this prover proves: per circuit id, its parameters and verifying key.
    pub fn circuits(&self) -> Value {
        let mut out = serde_json::Map::new();
        if let Some(c) = &self.income {
            out.insert(
                ZK_CIRCUIT_INCOME.into(),
                json!({ "slots": c.meta, "public_inputs": ["commitment", "threshold", "count"], "vk_hash": c.vk_hash, "verification_key": c.vk_json }),
            );
        }
        if let Some(c) = &self.inference {
            let m = &c.meta;
            out.insert(
                ZK_CIRCUIT_MLP.into(),
                json!({
                    "model": m.name,
                    "model_root": m.model_root,
                    "weights": m.mode.as_str(),
                    "model_commitment": m.commitment,
                    "features": m.network.features(),
                    "outputs": m.network.outputs(),
                    "takes_features": !m.input_scales.is_empty(),
                    "public_inputs": ["model_commitment", "input_commitment", "output_commitment"],
                    "vk_hash": c.vk_hash,
                    "verification_key": c.vk_json,
                }),
            );
        }
        Value::Object(out)
    }

    /// Fresh evidence binding this prover's keys (the ones statements are sealed to
    /// and receipts signed with) and the caller's `nonce`.
    pub fn attestation(&self, nonce: &str) -> Result<veil_protocol::AttestationResponse, ProverError> {
        let a = self.attestation.as_ref().ok_or(ProverError::NotAttested)?;
        if !veil_protocol::is_challenge_nonce(nonce) {
            return Err(ZkError::Input("nonce must be 16 to 128 characters of [A-Za-z0-9_-]".into()).into());
        }
        let evidence = veil_attester::evidence_with_purpose(
            &*a.attester,
            &self.identity,
            nonce,
            veil_protocol::PROVER_ATTESTATION_PURPOSE,
            Some((self.clock)()),
        )
        .map_err(|e| ProverError::Zk(ZkError::Groth16(format!("attesting: {e}"))))?;
        Ok(veil_protocol::AttestationResponse { evidence, measurement: a.measurement.clone() })
    }

    /// The address of the key completions are signed with.
    pub fn completion_address(&self) -> alloy::primitives::Address {
        self.completion_key.address()
    }

    /// Registration evidence for `account`: the runtime data binds this prover's keys,
    /// its secp256k1 completion key among them, with the account in the nonce's place
    /// (what an attestation verifier checks before vouching for the key).
    pub fn registration(&self, account: &str) -> Result<veil_protocol::AttestationResponse, ProverError> {
        let a = self.attestation.as_ref().ok_or(ProverError::NotAttested)?;
        let account: alloy::primitives::Address = account
            .parse()
            .map_err(|_| ProverError::Malformed("account must be a 0x-prefixed address".into()))?;
        let mut rd = veil_attester::runtime_data(
            &self.identity,
            &format!("{account:#x}"),
            veil_protocol::PROVER_REGISTRATION_PURPOSE,
            Some((self.clock)()),
        );
        rd.public_keys.insert("secp256k1".into(), format!("{:#x}", self.completion_address()));
        let evidence = veil_attester::evidence_for(&*a.attester, rd)
            .map_err(|e| ProverError::Zk(ZkError::Groth16(format!("attesting: {e}"))))?;
        Ok(veil_protocol::AttestationResponse { evidence, measurement: a.measurement.clone() })
    }

    /// Sign the completion of `target` (a zk job on a `JobRegistry`) with this
    /// prover's own proof `id` of inference, for the holder of its capability. The
    /// signature covers the completing account and the proof's hash, so it serves no
    /// one else and no other proof. `None` for an unknown job or a wrong capability.
    pub fn completion(
        &self,
        id: &str,
        capability: &str,
        target: veil_protocol::CompletionTarget,
    ) -> Option<Result<veil_protocol::SignedCompletion, ProverError>> {
        use alloy::primitives::{B256, U256};
        use alloy::signers::SignerSync as _;
        let state = self.get(id, capability)?;
        Some((|| {
            let JobState::Done { circuit, proof, public, .. } = state else {
                return Err(ProverError::NotDone);
            };
            if circuit != ZK_CIRCUIT_MLP {
                return Err(ProverError::Malformed(
                    "only a proof of inference completes a zk job ([model, input, output])".into(),
                ));
            }
            let proof = snarkjs::proof_from_json(&proof)?;
            let public = snarkjs::public_from_json(&public)?;
            let output = public
                .get(2)
                .ok_or_else(|| ZkError::Input("a proof of inference has three public inputs".into()))?;
            let result = U256::from_str_radix(&output.to_string(), 10)
                .map_err(|e| ZkError::Input(format!("public input: {e}")))?;
            let words = veil_zk::solidity::proof_words(&proof).map(U256::from_be_bytes);
            let proof_hash = veil_protocol::proof_hash(&words);
            let digest = target.digest(B256::from(result.to_be_bytes::<32>()), proof_hash);
            let signature = self
                .completion_key
                .sign_hash_sync(&digest)
                .map_err(|e| ZkError::Groth16(format!("signing: {e}")))?;
            Ok(veil_protocol::SignedCompletion {
                target,
                result,
                proof: words,
                proof_hash,
                enclave_key: self.completion_address(),
                signature: signature.as_bytes().to_vec().into(),
            })
        })())
    }

    /// (waiting, running, estimated wait for a new job).
    pub fn load(&self) -> (usize, usize, Duration) {
        let (w, r) = (self.waiting.load(Ordering::Relaxed), self.running.load(Ordering::Relaxed));
        let per = self.ewma_ms.load(Ordering::Relaxed);
        (w, r, Duration::from_millis(per.saturating_mul((w + r) as u64)))
    }

    fn open(&self, sealed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, ZkError> {
        let mut plain = zeroize::Zeroizing::new(Vec::new());
        veil_seal::open(sealed, &mut *plain, &self.identity)
            .map_err(|e| ZkError::Input(format!("the statement does not open with the prover's key: {e}")))?;
        Ok(plain)
    }

    /// Open a sealed statement's envelope: the nonce is spent here, once, and only
    /// for a statement that has not expired.
    fn open_envelope(&self, sealed: &[u8]) -> Result<Value, ProverError> {
        let plain = self.open(sealed)?;
        let envelope: Envelope = serde_json::from_slice(&plain).map_err(|e| {
            ZkError::Input(format!("the opened statement is not JSON with a nonce and an expires_at: {e}"))
        })?;
        let now = (self.clock)();
        if !veil_protocol::is_challenge_nonce(&envelope.nonce) {
            return Err(ZkError::Input("nonce must be 16 to 128 characters of [A-Za-z0-9_-]".into()).into());
        }
        if envelope.expires_at <= now {
            return Err(ProverError::Expired { expires_at: envelope.expires_at, now });
        }
        if envelope.expires_at > now + MAX_STATEMENT_TTL_SECS {
            return Err(ZkError::Input(format!(
                "expires_at may be at most {MAX_STATEMENT_TTL_SECS} s ahead"
            ))
            .into());
        }
        let mut nonces = lock(&self.nonces);
        if nonces.contains_key(&envelope.nonce) {
            return Err(ProverError::Replayed);
        }
        if nonces.len() >= MAX_JOBS {
            nonces.retain(|_, e| *e > now);
            if nonces.len() >= MAX_JOBS {
                return Err(ZkError::Busy.into());
            }
        }
        nonces.insert(envelope.nonce, envelope.expires_at);
        Ok(Value::Object(envelope.statement))
    }

    /// Open a sealed income statement, check it, and queue it.
    pub fn submit(&self, sealed: &[u8]) -> Result<Accepted, ProverError> {
        let slots = self
            .income
            .as_ref()
            .map(|c| c.meta)
            .ok_or_else(|| ZkError::Unsupported(ZK_CIRCUIT_INCOME.into()))?;
        let statement = self.open_envelope(sealed)?;
        let input: veil_zk::income::IncomeInput = serde_json::from_value(statement)
            .map_err(|e| ZkError::Input(format!("the opened statement is not an income statement: {e}")))?;
        if input.slots != slots {
            return Err(ZkError::Input(format!(
                "this prover's circuit has {slots} slots, the statement asks for {}",
                input.slots
            ))
            .into());
        }
        let statement = IncomeThreshold::try_from(input)?;
        statement.public_inputs()?;
        Ok(self.enqueue(Statement::Income(statement), sealed)?)
    }

    /// Open a sealed inference request, check it, and queue it.
    pub fn submit_inference(&self, sealed: &[u8]) -> Result<Accepted, ProverError> {
        let c = self.inference.as_ref().ok_or_else(|| ZkError::Unsupported(ZK_CIRCUIT_MLP.into()))?;
        let statement = self.open_envelope(sealed)?;
        let req: InferenceInput = serde_json::from_value(statement)
            .map_err(|e| ZkError::Input(format!("the opened request is not an inference request: {e}")))?;
        let input = match (req.input, req.features) {
            (Some(x), None) => x,
            (None, Some(f)) if !c.meta.input_scales.is_empty() => quantize(&f, &c.meta.input_scales)?,
            (None, Some(_)) => return Err(ZkError::Input("this prover takes int8 input only".into()).into()),
            _ => {
                return Err(ZkError::Input("give exactly one of input (int8) and features".into()).into());
            }
        };
        let statement = Inference {
            network: c.meta.network.clone(),
            mode: c.meta.mode,
            input,
            salt: veil_zk::income::parse_fr(&req.salt, "salt")?,
        };
        statement.claim()?;
        Ok(self.enqueue(Statement::Inference(statement), sealed)?)
    }

    fn enqueue(&self, statement: Statement, sealed: &[u8]) -> Result<Accepted, ZkError> {
        let context = root_of(sealed).map_err(|e| ZkError::Input(e.to_string()))?;
        let mut raw = [0u8; 16];
        getrandom_id(&mut raw)?;
        let id = hex::encode(raw);
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        getrandom_id(&mut *secret)?;
        let capability = hex::encode(*secret);
        {
            let mut jobs = lock(&self.jobs);
            let now = (self.clock)();
            jobs.retain(|_, j| j.finished_at.is_none_or(|f| now.saturating_sub(f) < JOB_RETENTION_SECS));
            if jobs.len() >= MAX_JOBS {
                return Err(ZkError::Busy);
            }
            jobs.insert(
                id.clone(),
                Job { state: JobState::Queued, capability: capability_hash(&capability), finished_at: None },
            );
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let work = Work { id: id.clone(), statement, context, received: self.now() };
        match self.tx.try_send(work) {
            Ok(()) => Ok(Accepted { id, capability }),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                lock(&self.jobs).remove(&id);
                Err(ZkError::Busy)
            }
        }
    }

    /// A job's state, for the holder of its capability; `None` for an unknown job and
    /// for a wrong capability alike, so ids reveal nothing.
    pub fn get(&self, id: &str, capability: &str) -> Option<JobState> {
        let jobs = lock(&self.jobs);
        let job = jobs.get(id)?;
        (job.capability == capability_hash(capability)).then(|| job.state.clone())
    }

    /// Cancel a queued job (for the holder of its capability); true when it was still
    /// queued.
    pub fn cancel(&self, id: &str, capability: &str) -> bool {
        let mut jobs = lock(&self.jobs);
        match jobs.get_mut(id) {
            Some(job)
                if job.capability == capability_hash(capability) && matches!(job.state, JobState::Queued) =>
            {
                job.state = JobState::Cancelled;
                job.finished_at = Some((self.clock)());
                true
            }
            _ => false,
        }
    }

    /// Check a finished job's proof again (for the holder of its capability).
    pub fn verify(&self, id: &str, capability: &str) -> Option<Result<bool, ZkError>> {
        match self.get(id, capability)? {
            JobState::Done { circuit, proof, public, .. } => Some((|| {
                let vk = match circuit.as_str() {
                    ZK_CIRCUIT_INCOME => self.income.as_ref().map(|c| &c.vk),
                    _ => self.inference.as_ref().map(|c| &c.vk),
                }
                .ok_or_else(|| ZkError::Unsupported(circuit.clone()))?;
                let proof = snarkjs::proof_from_json(&proof)?;
                let public = snarkjs::public_from_json(&public)?;
                groth::verify(vk, &public, &proof)
            })()),
            _ => None,
        }
    }

    fn prove(&self, pk: &groth::Pk, reduction: groth::Reduction, work: Work) -> Result<JobState, ZkError> {
        let mut rng = groth::os_rng()?;
        let mut receipt_model = None;
        let (circuit, proof, public, vk_json, vk_hash, result, detail) = match work.statement {
            Statement::Income(statement) => {
                let c = self.income.as_ref().ok_or_else(|| ZkError::Unsupported(ZK_CIRCUIT_INCOME.into()))?;
                let (proof, public) = groth::prove_income_with(pk, reduction, statement, &mut rng)?;
                (ZK_CIRCUIT_INCOME, proof, public, &c.vk_json, c.vk_hash, None, json!({}))
            }
            Statement::Inference(statement) => {
                let c = self.inference.as_ref().ok_or_else(|| ZkError::Unsupported(ZK_CIRCUIT_MLP.into()))?;
                let claim = statement.claim()?;
                let proof = groth::prove_with(pk, reduction, statement, &mut rng)?;
                receipt_model = c.meta.model_root;
                let result = json!({
                    "outputs": claim.outputs,
                    "class": veil_zk::mlp::class_of(&claim.outputs),
                });
                let detail = json!({
                    "model": c.meta.name,
                    "weights": c.meta.mode.as_str(),
                    "model_commitment": c.meta.commitment,
                });
                (ZK_CIRCUIT_MLP, proof, claim.public, &c.vk_json, c.vk_hash, Some(result), detail)
            }
        };
        let proof = snarkjs::proof_to_json(&proof);
        let public = snarkjs::public_to_json(&public);
        let output = match &result {
            Some(r) => json!({ "proof": proof, "public": public, "result": r }),
            None => json!({ "proof": proof, "public": public }),
        };
        let output_hash = jcs_root(&output)?;
        let now = self.now();
        let mut receipt = Receipt::new(Mode::Zk, jcs_root(&public)?, output_hash, now);
        receipt.model_hash = receipt_model;
        receipt.context_hash = Some(work.context);
        receipt.policy_id = Some(circuit.into());
        let proved = ZkProof {
            circuit: circuit.into(),
            vk_hash,
            public: public.clone(),
            detail: detail.as_object().cloned().unwrap_or_default(),
        };
        receipt.events = vec![
            Event::of(work.received, &RequestReceived::default()),
            Event::of(now, &proved),
            Event::of(now, &ResponseReturned { body_hash: output_hash }),
        ];
        let mut zk = json!({ "circuit": circuit, "vk": vk_json, "proof": proof, "public": public });
        if let Some(r) = &result {
            zk["result"] = r.clone();
        }
        receipt.evidence = Some(json!({ "zk": zk }));
        let receipt = veil_receipt::sign(receipt, &self.identity.signing_key())
            .map_err(|e| ZkError::Groth16(format!("signing the receipt: {e}")))?;
        let inclusion = match &self.log {
            Some(submit) => match submit(receipt.to_json_pretty().as_bytes()) {
                Ok(i) => Some(Box::new(i)),
                Err(e) => {
                    return Ok(JobState::Failed {
                        code: ErrorCode::ZkLogUnavailable,
                        detail: format!("the transparency log did not take the receipt: {e}"),
                    });
                }
            },
            None => None,
        };
        Ok(JobState::Done {
            circuit: circuit.into(),
            proof,
            public,
            result: result.map(Box::new),
            receipt: Box::new(receipt),
            inclusion,
        })
    }
}

/// Raw features to int8, as `veil-model` quantises them (outside the proof).
fn quantize(features: &[f64], scales: &[f64]) -> Result<Vec<i8>, ZkError> {
    if features.len() != scales.len() {
        return Err(ZkError::Input(format!("expected {} features, got {}", scales.len(), features.len())));
    }
    features
        .iter()
        .zip(scales)
        .enumerate()
        .map(|(i, (v, s))| {
            veil_model::quantize_value(*v, *s)
                .ok_or_else(|| ZkError::Input(format!("feature {i} is not a finite number")))
        })
        .collect()
}

/// The circuit's view of a quantised network (same arithmetic, see `veil_zk::mlp`).
pub fn circuit_network(q: &veil_model::QuantizedNet) -> Network {
    Network {
        layers: q
            .layers
            .iter()
            .map(|l| veil_zk::mlp::Layer {
                inputs: l.inputs,
                outputs: l.outputs,
                weights: l.weights.clone(),
                bias: l.bias.clone(),
                relu: l.relu,
                requant: l.requant.map(|r| (r.multiplier, r.shift)),
            })
            .collect(),
    }
}

fn getrandom_id(out: &mut [u8]) -> Result<(), ZkError> {
    let mut rng = groth::os_rng()?;
    ark_std::rand::RngCore::fill_bytes(&mut rng, out);
    Ok(())
}
