//! Federated rounds aggregated inside the worker.
//!
//! The worker is the aggregator the seed runs in a TEE: it opens a round on
//! its owner's signed start (`veil-fl` checks the signature, the federation id and
//! that the round follows the last one this worker finished), takes clients' signed
//! messages stage by stage, closes a stage once every client it waits for has
//! answered or the start's stage timeout has passed (those that did not are
//! dropped), and on success signs an `fl` receipt with its attested key. It only
//! ever holds masked updates and the sum; the model it publishes is the previous one
//! plus the survivors' weighted mean update.
//!
//! Models travel sealed: the owner seals each start's model to the federation's model
//! key and to this enclave's sealing key; the worker opens it inside and seals the new
//! model to both again, storing it by root. Anyone may read a round's view and
//! outcome; only the federation and the enclave read its models.
//!
//! State is in memory: a worker that restarts forgets its rounds, and the owner
//! starts the round again (clients see `fl.unknown_round`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::sol_types::SolStruct as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::sync::watch;
use veil_fl::{FlError, LastRound, Session};
use veil_protocol::Problem;
use veil_protocol::fl::{
    FlMessage, LrModel, RegistryRef, RoundOutcome, RoundView, SignedRecord, SignedRoundStart, Stage,
    StageInput, registry_domain,
};
use veil_protocol::secagg::ClientId;
use veil_receipt::events::FlRound;
use veil_receipt::{Event, Mode, Receipt};

use crate::{JobError, Worker};

/// The longest a stage may wait for clients.
pub const MAX_STAGE_TIMEOUT_MS: u64 = 10 * 60 * 1000;
/// Federations one worker hosts at once (finished ones included: they hold the
/// last round's model, which the next start must follow).
pub const MAX_FEDERATIONS: usize = 256;
/// Finished rounds' outcomes kept per federation.
pub const KEPT_OUTCOMES: usize = 16;
/// How long a client's request for its stage input waits for the stage to open.
pub const INPUT_WAIT: Duration = Duration::from_secs(20);

/// The rounds this worker aggregates, by federation id.
#[derive(Default)]
pub(crate) struct FlHost {
    feds: Mutex<HashMap<String, Hosted>>,
}

struct Hosted {
    session: Session,
    /// The last round that finished here, which the next start must follow.
    last: Option<LastRound>,
    outcome: Option<RoundOutcome>,
    aborted: Option<Problem>,
    /// The last rounds' outcomes, newest last, so a client that looks after the
    /// owner has moved on still finds its round's receipt.
    kept: VecDeque<(u64, RoundOutcome)>,
    /// The stage, for clients waiting on it.
    stage: watch::Sender<Stage>,
    /// Woken when a stage may be complete.
    wake: Arc<tokio::sync::Notify>,
}

impl Hosted {
    fn view(&self) -> RoundView {
        RoundView {
            start: self.session.start().clone(),
            global_root: self.session.global_root(),
            stage: self.session.stage(),
            outcome: self.outcome.clone(),
            aborted: self.aborted.clone(),
        }
    }
}

fn unknown(federation: &str) -> JobError {
    JobError::FlUnknown(federation.to_owned())
}

impl Worker {
    fn feds(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Hosted>>, JobError> {
        self.fl.feds.lock().map_err(|_| JobError::Internal("the round table is poisoned".into()))
    }

    /// Open the round `start` orders and begin driving it.
    pub(crate) fn fl_start(self: &Arc<Self>, start: SignedRoundStart) -> Result<RoundView, JobError> {
        let timeout = start.start.stage_timeout_ms;
        if timeout == 0 || timeout > MAX_STAGE_TIMEOUT_MS {
            return Err(FlError::BadRound(format!(
                "stage timeout {timeout} ms; 1 to {MAX_STAGE_TIMEOUT_MS}"
            ))
            .into());
        }
        let fed = start.start.config.federation.clone();
        let mut feds = self.feds()?;
        let kept = feds.get(&fed).map(|h| h.kept.clone()).unwrap_or_default();
        let last = match feds.get(&fed) {
            Some(h) if !matches!(h.session.stage(), Stage::Done | Stage::Aborted) => {
                return Err(FlError::BadRound(format!(
                    "round {} of {fed} is still running",
                    h.session.round()
                ))
                .into());
            }
            Some(h) => h.last.clone(),
            None if feds.len() >= MAX_FEDERATIONS => {
                // Make room by forgetting a finished federation (its next start is then
                // taken without the continuity check; the ledger's registry still keeps
                // its recorded rounds in order); refuse when every one is running.
                let done = feds
                    .iter()
                    .find(|(_, h)| matches!(h.session.stage(), Stage::Done | Stage::Aborted))
                    .map(|(k, _)| k.clone());
                match done {
                    Some(k) => {
                        feds.remove(&k);
                        None
                    }
                    None => {
                        return Err(FlError::BadRound(format!(
                            "this worker runs rounds of {MAX_FEDERATIONS} federations already; try later"
                        ))
                        .into());
                    }
                }
            }
            None => None,
        };
        // The owner's signature first: nothing is opened for a start nobody signed.
        veil_fl::check_start(&start)?;
        let global = self.open_global(&start)?;
        let session = Session::open(start, global, last.as_ref())?;
        let wake = Arc::new(tokio::sync::Notify::new());
        let hosted = Hosted {
            session,
            last,
            outcome: None,
            aborted: None,
            kept,
            stage: watch::Sender::new(Stage::Advertise),
            wake: wake.clone(),
        };
        let view = hosted.view();
        feds.insert(fed.clone(), hosted);
        tracing::info!(federation = %fed, round = view.start.start.config.round, "federated round opened");
        tokio::spawn(self.clone().drive(fed, Duration::from_millis(timeout), wake));
        Ok(view)
    }

    /// The start's model, opened with this enclave's sealing key (the owner sealed it
    /// to that key, bound in the evidence it checked, and to the federation's).
    fn open_global(&self, start: &SignedRoundStart) -> Result<LrModel, JobError> {
        let bad = |m: String| JobError::Fl(FlError::BadRound(m));
        start
            .start
            .model_key
            .parse::<veil_seal::PublicKey>()
            .map_err(|e| bad(format!("the model key: {e}")))?;
        let sealed = B64
            .decode(&start.start.global_sealed)
            .map_err(|e| bad(format!("the sealed model is not base64: {e}")))?;
        let mut plain = zeroize::Zeroizing::new(Vec::new());
        veil_seal::open(sealed.as_slice(), &mut *plain, &self.identity)
            .map_err(|e| bad(format!("the start's model is not sealed to this aggregator: {e}")))?;
        serde_json::from_slice(&plain).map_err(|e| bad(format!("the start's model: {e}")))
    }

    /// The federation's current (or last) round.
    pub(crate) fn fl_view(&self, fed: &str) -> Result<RoundView, JobError> {
        self.feds()?.get(fed).map(Hosted::view).ok_or_else(|| unknown(fed))
    }

    /// Round `round`'s outcome, once it has one (kept for the last [`KEPT_OUTCOMES`]
    /// rounds); while it runs, `fl.wrong_stage`; if it aborted, why.
    pub(crate) fn fl_outcome(&self, fed: &str, round: u64) -> Result<RoundOutcome, JobError> {
        let feds = self.feds()?;
        let h = feds.get(fed).ok_or_else(|| unknown(fed))?;
        if let Some((_, o)) = h.kept.iter().find(|(r, _)| *r == round) {
            return Ok(o.clone());
        }
        if h.session.round() != round {
            return Err(JobError::FlUnknown(format!("{fed} round {round}")));
        }
        match (h.session.result(), h.session.stage()) {
            (Some(Err(e)), _) => Err(JobError::Fl(e.clone())),
            (_, stage) => Err(FlError::WrongStage { is: stage.as_str(), want: "done" }.into()),
        }
    }

    /// A client's message for the open stage.
    pub(crate) fn fl_submit(&self, msg: FlMessage) -> Result<(), JobError> {
        let mut feds = self.feds()?;
        let h = feds.get_mut(&msg.federation).ok_or_else(|| unknown(&msg.federation))?;
        h.session.submit(msg)?;
        if h.session.complete() {
            h.wake.notify_one();
        }
        Ok(())
    }

    /// What `client` needs for round `round`'s open stage, waiting up to
    /// [`INPUT_WAIT`] for the stage to open.
    pub(crate) async fn fl_input(
        &self,
        fed: &str,
        round: u64,
        client: ClientId,
    ) -> Result<StageInput, JobError> {
        let mut rx = {
            let feds = self.feds()?;
            let h = feds.get(fed).ok_or_else(|| unknown(fed))?;
            if h.session.round() != round {
                return Err(JobError::FlUnknown(format!("{fed} round {round}")));
            }
            if !h.session.has_client(client) {
                return Err(FlError::NotParticipant(format!("client {client} is not in the round")).into());
            }
            h.stage.subscribe()
        };
        let deadline = tokio::time::Instant::now() + INPUT_WAIT;
        loop {
            let stage = {
                let feds = self.feds()?;
                let h = feds.get(fed).ok_or_else(|| unknown(fed))?;
                if h.session.round() != round {
                    return Err(JobError::FlUnknown(format!("{fed} round {round}")));
                }
                if let Some(input) = h.session.input_for(client) {
                    return Ok(input);
                }
                h.session.stage()
            };
            let ended = matches!(stage, Stage::Done | Stage::Aborted);
            // Waiting for the next stage: not yet, or not any more for this client.
            if ended || tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return Err(FlError::WrongStage {
                    is: stage.as_str(),
                    want: "a stage with input for this client",
                }
                .into());
            }
        }
    }

    /// Close stages as they complete or time out; finish with a receipt.
    async fn drive(self: Arc<Self>, fed: String, timeout: Duration, wake: Arc<tokio::sync::Notify>) {
        loop {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let complete = match self.feds() {
                    Ok(f) => f.get(&fed).is_none_or(|h| h.session.complete()),
                    Err(_) => return,
                };
                if complete || tokio::time::timeout_at(deadline, wake.notified()).await.is_err() {
                    break;
                }
            }
            let (stage, finished, round, start_root) = {
                let Ok(mut feds) = self.feds() else { return };
                let Some(h) = feds.get_mut(&fed) else { return };
                let stage = h.session.advance();
                h.stage.send_replace(stage);
                let finished = h.session.result().cloned();
                let start_root = veil_fl::jcs_root(h.session.start());
                (stage, finished, h.session.round(), start_root)
            };
            tracing::info!(federation = %fed, round, stage = stage.as_str(), "federated round advanced");
            match (stage, finished) {
                (Stage::Done, Some(Ok(f))) => {
                    let outcome = match start_root {
                        Ok(start_root) => self.fl_receipt(&fed, round, start_root, &f).await,
                        Err(e) => Err(e.into()),
                    };
                    let Ok(mut feds) = self.feds() else { return };
                    let Some(h) = feds.get_mut(&fed) else { return };
                    match outcome {
                        Ok(o) => {
                            h.last = Some(LastRound { round, global_root: o.global_root });
                            if h.kept.len() == KEPT_OUTCOMES {
                                h.kept.pop_front();
                            }
                            h.kept.push_back((round, o.clone()));
                            h.outcome = Some(o);
                        }
                        Err(e) => h.aborted = Some(crate::server::problem(&e)),
                    }
                    return;
                }
                (Stage::Aborted, finished) => {
                    let e = match finished {
                        Some(Err(e)) => JobError::Fl(e),
                        _ => JobError::Internal("the round stopped".into()),
                    };
                    tracing::info!(federation = %fed, round, error = %e, "federated round aborted");
                    if let Ok(mut feds) = self.feds()
                        && let Some(h) = feds.get_mut(&fed)
                    {
                        h.aborted = Some(crate::server::problem(&e));
                    }
                    return;
                }
                _ => {}
            }
        }
    }

    async fn fl_receipt(
        &self,
        fed: &str,
        round: u64,
        start_root: veil_content::Root,
        f: &veil_fl::Finished,
    ) -> Result<RoundOutcome, JobError> {
        let session = self.session().await?;
        let start = self.fl_view(fed)?.start;
        let owner = start.start.owner.clone();
        // The new model, sealed to the federation's key and to this enclave's (so the
        // owner can hand it back as the next start), stored by root.
        let model_key: veil_seal::PublicKey =
            start.start.model_key.parse().map_err(|e| FlError::BadRound(format!("the model key: {e}")))?;
        let plain = veil_fl::jcs_bytes(&f.global)?;
        let mut sealed = Vec::new();
        veil_seal::seal(plain.as_slice(), &mut sealed, &[model_key, self.identity.public_key()])
            .map_err(|e| JobError::Internal(format!("sealing the global model: {e}")))?;
        let stored = self
            .store
            .put_bytes(sealed.clone())
            .await
            .map_err(|e| JobError::Internal(format!("storing the global model: {e}")))?;
        let now = self.time();
        let mut receipt = Receipt::new(Mode::Fl, start_root, f.global_root, now);
        receipt.model_hash = Some(f.previous_root);
        receipt.subject = Some(format!("fl:{fed}/{round}"));
        receipt.events = vec![Event::of(
            now,
            &FlRound {
                federation: fed.to_owned(),
                round,
                owner,
                previous_root: f.previous_root,
                global_root: f.global_root,
                survivors: f.survivors.clone(),
                dropped: f.dropped.clone(),
                update_roots: f.update_roots.iter().map(|(c, r)| (c.to_string(), *r)).collect(),
                total_weight: f.total_weight,
                sealed_root: Some(stored.root),
            },
        )];
        let receipt = self.sign(receipt, &session)?;
        let record = match &start.start.registry {
            Some(registry) => Some(self.fl_record(registry, fed, round, start_root, f, &receipt.id)?),
            None => None,
        };
        Ok(RoundOutcome {
            global_root: f.global_root,
            global_sealed: B64.encode(&sealed),
            sealed_root: stored.root,
            receipt,
            record,
        })
    }

    /// The round's record for `registry`, signed with the chain key.
    fn fl_record(
        &self,
        registry: &RegistryRef,
        fed: &str,
        round: u64,
        start_root: veil_content::Root,
        f: &veil_fl::Finished,
        receipt_id: &str,
    ) -> Result<SignedRecord, JobError> {
        use alloy::signers::SignerSync as _;
        let chain_id = registry.chain_id;
        let registry: Address = registry
            .address
            .parse()
            .map_err(|_| FlError::BadRound(format!("registry {:?} is not an address", registry.address)))?;
        let b = |r: veil_content::Root| B256::from(r.0);
        let receipt_hex = receipt_id.strip_prefix("sha256:").unwrap_or(receipt_id);
        let receipt_id: B256 = receipt_hex
            .parse()
            .map_err(|_| JobError::Internal(format!("receipt id {receipt_id} is not a digest")))?;
        let mut record = SignedRecord {
            chain_id,
            registry: registry.to_checksum(None),
            federation: alloy::primitives::keccak256(fed.as_bytes()),
            round,
            start_root: b(start_root),
            previous_model: b(f.previous_root),
            global_model: b(f.global_root),
            receipt_id,
            survivors: f.survivors.clone(),
            update_roots: f
                .survivors
                .iter()
                .map(|c| f.update_roots.get(c).map_or(B256::ZERO, |r| b(*r)))
                .collect(),
            aggregator: self.chain_key.address(),
            signature: Default::default(),
        };
        let digest = record.typed().eip712_signing_hash(&registry_domain(chain_id, registry));
        let sig = self.chain_key.sign_hash_sync(&digest).map_err(|e| JobError::Internal(e.to_string()))?;
        record.signature = sig.as_bytes().to_vec().into();
        Ok(record)
    }
}
