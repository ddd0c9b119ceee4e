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
use veil_receipt::{Event, Mode, Receipt, SignedReceipt, event};
use veil_seal::Identity;
use veil_zk::groth::{self, Keys};
use veil_zk::income::IncomeThreshold;
use veil_zk::{ZkError, snarkjs};

/// The circuit id receipts name for the income-threshold statement.
pub const ZK_CIRCUIT_INCOME: &str = "veil/income-threshold/v1";

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
        /// snarkjs `proof.json`.
        proof: Value,
        /// snarkjs `public.json`.
        public: Value,
        /// The signed receipt.
        receipt: Box<SignedReceipt>,
    },
    /// It failed; the job is not silently dropped.
    Failed {
        /// Stable code.
        code: String,
        /// What happened.
        detail: String,
    },
    /// Cancelled before it ran.
    Cancelled,
}

struct Work {
    id: String,
    statement: IncomeThreshold,
    context: Root,
    received: OffsetDateTime,
}

/// What a prover is built from.
pub struct ProverParts {
    /// Its identity: statements are sealed to it, receipts signed by it.
    pub identity: Identity,
    /// The income circuit's keys.
    pub keys: Keys,
    /// The circuit's slot count (the keys' shape).
    pub slots: usize,
    /// Jobs that may wait.
    pub queue_capacity: usize,
    /// Unix seconds.
    pub clock: fn() -> u64,
}

/// The prover: job table, queue, measured proving time.
pub struct Prover {
    identity: Identity,
    vk_json: Value,
    vk: ark_groth16::VerifyingKey<ark_bn254::Bn254>,
    slots: usize,
    jobs: Mutex<HashMap<String, JobState>>,
    tx: SyncSender<Work>,
    waiting: AtomicUsize,
    running: AtomicUsize,
    /// Exponentially weighted proving time, milliseconds.
    ewma_ms: AtomicU64,
    clock: fn() -> u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Prover {
    /// Start the proving thread.
    pub fn start(parts: ProverParts) -> Arc<Self> {
        let (tx, rx) = sync_channel::<Work>(parts.queue_capacity.max(1));
        let prover = Arc::new(Self {
            identity: parts.identity,
            vk_json: snarkjs::vk_to_json(&parts.keys.vk),
            vk: parts.keys.vk.clone(),
            slots: parts.slots,
            jobs: Mutex::new(HashMap::new()),
            tx,
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            ewma_ms: AtomicU64::new(0),
            clock: parts.clock,
        });
        let weak = Arc::downgrade(&prover);
        let pk = parts.keys.pk;
        std::thread::Builder::new()
            .name("veil-prover".into())
            .spawn(move || {
                for work in rx {
                    let Some(p) = weak.upgrade() else { break };
                    p.waiting.fetch_sub(1, Ordering::AcqRel);
                    if matches!(lock(&p.jobs).get(&work.id), Some(JobState::Cancelled)) {
                        continue;
                    }
                    lock(&p.jobs).insert(work.id.clone(), JobState::Running);
                    p.running.fetch_add(1, Ordering::AcqRel);
                    let started = Instant::now();
                    let id = work.id.clone();
                    let state = match p.prove(&pk, work) {
                        Ok(done) => done,
                        Err(e) => JobState::Failed {
                            code: e.code().into(),
                            detail: e.to_string(),
                        },
                    };
                    p.record(started.elapsed());
                    p.running.fetch_sub(1, Ordering::AcqRel);
                    lock(&p.jobs).insert(id, state);
                }
            })
            .expect("spawning the proving thread");
        prover
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp((self.clock)() as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn record(&self, took: Duration) {
        let ms = took.as_millis().min(u128::from(u64::MAX)) as u64;
        let old = self.ewma_ms.load(Ordering::Relaxed);
        self.ewma_ms
            .store(if old == 0 { ms } else { (old * 3 + ms) / 4 }, Ordering::Relaxed);
    }

    /// The key statements are sealed to.
    pub fn public_key(&self) -> veil_seal::PublicKey {
        self.identity.public_key()
    }

    /// The receipt-signing key (hex).
    pub fn signing_key_hex(&self) -> String {
        hex::encode(self.identity.signing_key().verifying_key().to_bytes())
    }

    /// The verifying key (snarkjs JSON).
    pub fn vk_json(&self) -> &Value {
        &self.vk_json
    }

    /// The circuit's slot count.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// (waiting, running, estimated wait for a new job).
    pub fn load(&self) -> (usize, usize, Duration) {
        let (w, r) = (
            self.waiting.load(Ordering::Relaxed),
            self.running.load(Ordering::Relaxed),
        );
        let per = self.ewma_ms.load(Ordering::Relaxed);
        (w, r, Duration::from_millis(per.saturating_mul((w + r) as u64)))
    }

    /// Open a sealed statement, check it, and queue it. `Ok(id)`.
    pub fn submit(&self, sealed: &[u8]) -> Result<String, ZkError> {
        let mut plain = zeroize::Zeroizing::new(Vec::new());
        veil_seal::open(sealed, &mut *plain, &self.identity)
            .map_err(|e| ZkError::Input(format!("the statement does not open with the prover's key: {e}")))?;
        let input: veil_zk::income::IncomeInput = serde_json::from_slice(&plain)
            .map_err(|e| ZkError::Input(format!("the opened statement is not an income statement: {e}")))?;
        if input.slots != self.slots {
            return Err(ZkError::Input(format!(
                "this prover's circuit has {} slots, the statement asks for {}",
                self.slots, input.slots
            )));
        }
        let statement = IncomeThreshold::try_from(input)?;
        statement.public_inputs()?;
        let context = root_of(sealed).map_err(|e| ZkError::Input(e.to_string()))?;
        let mut raw = [0u8; 16];
        getrandom_id(&mut raw)?;
        let id = hex::encode(raw);
        lock(&self.jobs).insert(id.clone(), JobState::Queued);
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let work = Work {
            id: id.clone(),
            statement,
            context,
            received: self.now(),
        };
        match self.tx.try_send(work) {
            Ok(()) => Ok(id),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                lock(&self.jobs).remove(&id);
                Err(ZkError::Busy)
            }
        }
    }

    /// A job's state.
    pub fn get(&self, id: &str) -> Option<JobState> {
        lock(&self.jobs).get(id).cloned()
    }

    /// Cancel a queued job; true when it was still queued.
    pub fn cancel(&self, id: &str) -> bool {
        let mut jobs = lock(&self.jobs);
        match jobs.get(id) {
            Some(JobState::Queued) => {
                jobs.insert(id.to_owned(), JobState::Cancelled);
                true
            }
            _ => false,
        }
    }

    /// Check a finished job's proof again.
    pub fn verify(&self, id: &str) -> Option<Result<bool, ZkError>> {
        match self.get(id)? {
            JobState::Done { proof, public, .. } => Some((|| {
                let proof = snarkjs::proof_from_json(&proof)?;
                let public = snarkjs::public_from_json(&public)?;
                groth::verify(&self.vk, &public, &proof)
            })()),
            _ => None,
        }
    }

    fn prove(&self, pk: &ark_groth16::ProvingKey<ark_bn254::Bn254>, work: Work) -> Result<JobState, ZkError> {
        let (proof, public) = groth::prove_income(pk, work.statement, &mut groth::os_rng()?)?;
        let proof = snarkjs::proof_to_json(&proof);
        let public = snarkjs::public_to_json(&public);
        let hash = |v: &Value| -> Result<Root, ZkError> {
            let bytes = veil_jcs::to_canonical_vec(v).map_err(|e| ZkError::Input(e.to_string()))?;
            root_of(&bytes).map_err(|e| ZkError::Input(e.to_string()))
        };
        let output = json!({ "proof": proof, "public": public });
        let output_hash = hash(&output)?;
        let vk_hash = hash(&self.vk_json)?;
        let now = self.now();
        let mut receipt = Receipt::new(Mode::Zk, hash(&public)?, output_hash, now);
        receipt.context_hash = Some(work.context);
        receipt.policy_id = Some(ZK_CIRCUIT_INCOME.into());
        receipt.events = vec![
            Event::new(event::REQUEST_RECEIVED, work.received, json!({})),
            Event::new(
                event::ZK_PROOF,
                now,
                json!({ "circuit": ZK_CIRCUIT_INCOME, "vk_hash": vk_hash, "public": public }),
            ),
            Event::new(event::RESPONSE_RETURNED, now, json!({ "body_hash": output_hash })),
        ];
        receipt.evidence = Some(
            json!({ "zk": { "circuit": ZK_CIRCUIT_INCOME, "vk": self.vk_json, "proof": proof, "public": public } }),
        );
        let receipt = veil_receipt::sign(receipt, &self.identity.signing_key())
            .map_err(|e| ZkError::Groth16(format!("signing the receipt: {e}")))?;
        Ok(JobState::Done {
            proof,
            public,
            receipt: Box::new(receipt),
        })
    }
}

fn getrandom_id(out: &mut [u8]) -> Result<(), ZkError> {
    let mut rng = groth::os_rng()?;
    ark_std::rand::RngCore::fill_bytes(&mut rng, out);
    Ok(())
}
