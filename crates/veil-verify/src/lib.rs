//! Verify a receipt completely, offline: its id and signature (`veil-receipt`), the
//! evidence that vouches for the signing key (`veil-evidence`, at the receipt's own
//! time, under roots and a policy the caller names), and its event log (the events a
//! job of its kind must record, in order, agreeing with the receipt's hashes).
//!
//! Trust is explicit and denies by default: evidence under a development root verifies
//! only when the caller passes that root; a measurement is accepted only when the caller
//! lists it (or says, in so many words, that any will do); a Groth16 proof counts only
//! under a verifying key the caller pinned, because a key the receipt's bearer chose can
//! be built to accept any public inputs (γ = δ, A = α, B = β, C = −vk_x); a proof of
//! inference names its model only through a commitment the caller pinned to that
//! model's weights root; and a receipt that carries nothing but its signer's word is
//! refused unless the caller accepts unattested receipts.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veil_content::Root;
use veil_evidence::{Claims, Evidence, Policy, TrustAnchors};
use veil_receipt::events::{
    DataLoaded, FheEvaluated, FlRound, LlmCompleted, MarketCharged, ModelLoaded, NftAuthorized,
    ResponseReturned, TrainCompleted, ZkProof,
};
use veil_receipt::{Mode, Receipt, Verified, event};

/// What the caller trusts. The default trusts vendor roots under the default policy and
/// nothing else: no measurement, no verifying key, no unattested receipt.
#[derive(Debug, Clone)]
pub struct Trust {
    /// Roots evidence may chain to.
    pub anchors: TrustAnchors,
    /// What the evidence must satisfy.
    pub policy: Policy,
    /// Measurements accepted (hex).
    pub measurements: Vec<String>,
    /// Accept any verified measurement (the report names it) — an explicit choice for
    /// someone exploring, never the default.
    pub any_measurement: bool,
    /// The Groth16 keys and models zk receipts may be checked under.
    pub zk: ZkPins,
    /// Accept receipts whose only evidence is their signature (mode `plain`, and the
    /// modes whose evidence this verifier does not check: `fhe`, `fl`).
    pub accept_unattested: bool,
}

impl Trust {
    /// Whether `measurement` (hex) is acceptable.
    pub fn measurement_ok(&self, measurement: &str) -> bool {
        self.any_measurement || self.measurements.iter().any(|m| m.eq_ignore_ascii_case(measurement))
    }

    fn check_measurement(&self, measured: &str) -> Result<(), VerifyError> {
        if self.measurements.is_empty() && !self.any_measurement {
            return Err(VerifyError::Measurement(format!(
                "{measured} cannot be accepted: no measurement is trusted (name the ones you accept, or accept any explicitly)"
            )));
        }
        if !self.measurement_ok(measured) {
            return Err(VerifyError::Measurement(format!("{measured} is not one you accept")));
        }
        Ok(())
    }
}

impl Default for Trust {
    fn default() -> Self {
        Self {
            anchors: TrustAnchors::vendor(),
            policy: Policy::default(),
            measurements: Vec::new(),
            any_measurement: false,
            zk: ZkPins::default(),
            accept_unattested: false,
        }
    }
}

/// Verifying keys and models a verifier pins for zk receipts — the shape of a pin file
/// (`veil zk pins` writes one from a key directory; a proof server's `GET /v1/prover`
/// lists the same values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZkPins {
    /// Verifying keys, by the root of their JCS-canonical snarkjs JSON (`vk_hash`).
    #[serde(default)]
    pub keys: Vec<Root>,
    /// Which model commitment stands for which weights root.
    #[serde(default)]
    pub models: Vec<ModelPin>,
}

/// A model a proof of inference may name: the Poseidon commitment the circuit exposes as
/// its first public input, for the model file with this weights root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPin {
    /// The model file's 0G root (a receipt's `model_hash`).
    pub model_root: Root,
    /// The commitment, in decimal (as snarkjs writes field elements).
    pub commitment: String,
}

impl ZkPins {
    /// Add every pin of `other`.
    pub fn extend(&mut self, other: ZkPins) {
        self.keys.extend(other.keys);
        self.models.extend(other.models);
    }
}

/// Why a receipt does not verify. [`VerifyError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The id or signature is wrong, or the file is not a receipt.
    #[error(transparent)]
    Receipt(#[from] veil_receipt::ReceiptError),
    /// A TEE receipt without usable evidence.
    #[error("evidence: {0}")]
    Evidence(String),
    /// The evidence was refused.
    #[error("evidence refused: {0}")]
    Attestation(#[from] veil_evidence::AttestationError),
    /// The evidence does not bind the key that signed.
    #[error("the signing key {signer} is not the key the evidence binds ({bound})")]
    KeyNotBound {
        /// The receipt's signer.
        signer: String,
        /// The attested key.
        bound: String,
    },
    /// The measurement is not one the caller accepts, or not the one the receipt states.
    #[error("measurement {0}")]
    Measurement(String),
    /// The event log is incomplete, out of order, or disagrees with the receipt.
    #[error("event log: {0}")]
    Events(String),
    /// A zk receipt's verifying key is not one the caller pinned.
    #[error(
        "the verifying key {0} is not one you pinned: a key chosen by the receipt's bearer proves nothing"
    )]
    UntrustedKey(Root),
    /// A proof of inference whose model commitment is not pinned to the receipt's model.
    #[error("model: {0}")]
    ModelUnbound(String),
    /// A receipt whose only evidence is its signature, and the caller did not accept that.
    #[error("a {0} receipt carries only its signer's word; accept unattested receipts explicitly to take it")]
    Unattested(Mode),
}

impl VerifyError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Receipt(e) => e.code(),
            Self::Evidence(_) => "receipt.evidence",
            Self::Attestation(e) => e.code(),
            Self::KeyNotBound { .. } => "receipt.key_not_bound",
            Self::Measurement(_) => "receipt.measurement",
            Self::Events(_) => "receipt.events",
            Self::UntrustedKey(_) => "receipt.zk_key_untrusted",
            Self::ModelUnbound(_) => "receipt.model_unbound",
            Self::Unattested(_) => "receipt.unattested",
        }
    }
}

/// Check a service's answer to the caller's own challenge: its runtime data answers
/// `nonce` for `purpose` (evidence given for another use is refused), its evidence
/// verifies under `trust` at `now`, and its measurement is one the caller accepts.
pub fn verify_attestation_answer(
    evidence: &veil_evidence::Evidence,
    nonce: &str,
    purpose: &str,
    trust: &Trust,
    now: u64,
) -> Result<Claims, VerifyError> {
    let rd = evidence
        .runtime_data
        .as_ref()
        .ok_or_else(|| VerifyError::Evidence("the evidence binds no runtime data".into()))?;
    if rd.nonce != nonce || rd.purpose != purpose {
        return Err(VerifyError::Evidence(format!(
            "the evidence answers another challenge (nonce {}, purpose {})",
            rd.nonce, rd.purpose
        )));
    }
    let claims = veil_evidence::verify(evidence, &trust.anchors, &trust.policy, now)?;
    trust.check_measurement(claims.measurement_id.as_str())?;
    Ok(claims)
}

/// A fully verified receipt.
#[derive(Debug)]
pub struct Report {
    /// The signature check's result.
    pub verified: Verified,
    /// The evidence's claims, for TEE receipts.
    pub claims: Option<Claims>,
}

impl Report {
    /// One line for people.
    pub fn summary(&self) -> String {
        let mut s = self.verified.summary();
        if let Some(c) = &self.claims {
            let m = c.measurement_id.as_str();
            s.push_str(&format!(" evidence={:?} measurement={m} tcb={}", c.tee, c.tcb_status));
        }
        s
    }
}

/// Verify `bytes` (a receipt file) under `trust`.
pub fn verify(bytes: &[u8], trust: &Trust) -> Result<Report, VerifyError> {
    let verified = veil_receipt::verify(bytes)?;
    let claims = match verified.receipt.mode {
        // A model trained inside an enclave is only as good as that enclave's evidence.
        Mode::Tee | Mode::Train => Some(check_evidence(&verified, trust)?),
        Mode::Zk => {
            check_zk(&verified.receipt, &trust.zk)?;
            None
        }
        // Evaluated in an attested worker (hybrid): its evidence is checked as a tee
        // receipt's is. Without evidence, an fhe receipt is its signer's word.
        // A federated round aggregated in an attested worker likewise.
        Mode::Fhe | Mode::Fl
            if verified.receipt.evidence.as_ref().is_some_and(|e| e.get("attestation").is_some()) =>
        {
            Some(check_evidence(&verified, trust)?)
        }
        mode @ (Mode::Plain | Mode::Fhe | Mode::Fl) => {
            if !trust.accept_unattested {
                return Err(VerifyError::Unattested(mode));
            }
            None
        }
    };
    check_events(&verified.receipt)?;
    Ok(Report { verified, claims })
}

fn check_evidence(v: &Verified, trust: &Trust) -> Result<Claims, VerifyError> {
    let r = &v.receipt;
    let ev = r
        .evidence
        .as_ref()
        .ok_or_else(|| VerifyError::Evidence("a tee receipt must carry its attestation".into()))?;
    let evidence: Evidence = serde_json::from_value(ev.get("attestation").cloned().unwrap_or(Value::Null))
        .map_err(|e| VerifyError::Evidence(format!("evidence.attestation: {e}")))?;
    let at = OffsetDateTime::parse(&r.created_at, &Rfc3339)
        .map_err(|e| VerifyError::Evidence(format!("created_at: {e}")))?
        .unix_timestamp();
    let at = u64::try_from(at).map_err(|_| VerifyError::Evidence("created_at before 1970".into()))?;
    let rd = evidence
        .runtime_data
        .as_ref()
        .ok_or_else(|| VerifyError::Evidence("the evidence binds no runtime data".into()))?;
    // A leaked enclave key could sign receipts dated whenever its evidence held; the
    // time the enclave attested bounds them (the transparency log will bound them
    // further).
    if let Some(issued_at) = rd.issued_at
        && (at < issued_at || at - issued_at > veil_evidence::MAX_EVIDENCE_AGE_SECS)
    {
        return Err(VerifyError::Evidence(format!(
            "the receipt is dated {} but its evidence was made at {issued_at}: receipts fall within {} s after their evidence",
            r.created_at,
            veil_evidence::MAX_EVIDENCE_AGE_SECS
        )));
    }
    // The evidence must have been good when the receipt was made.
    let claims = veil_evidence::verify(&evidence, &trust.anchors, &trust.policy, at)?;
    let signer = hex::encode(v.signer.as_bytes());
    let bound = rd.public_keys.get("ed25519").cloned().unwrap_or_default();
    if bound != signer {
        return Err(VerifyError::KeyNotBound { signer, bound });
    }
    if claims.dev_root != r.dev_root {
        return Err(VerifyError::Evidence(format!(
            "the receipt says dev_root={} but its evidence chains to a {} root",
            r.dev_root,
            if claims.dev_root { "development" } else { "vendor" }
        )));
    }
    // Trust is decided on the measurement id, over every register. Receipts made before
    // it named the platform's first register (MRTD, SNP MEASUREMENT, MRENCLAVE); that
    // statement still agrees with the evidence, and the id is what is pinned.
    let measured = claims.measurement_id.clone();
    let stated = ev.get("measurement").and_then(Value::as_str).unwrap_or_default();
    let legacy = ["mr_td", "measurement", "mr_enclave"].iter().filter_map(|r| claims.measurements.get(*r));
    if stated != measured && !legacy.into_iter().any(|v| v.eq_ignore_ascii_case(stated)) {
        return Err(VerifyError::Measurement(format!(
            "{measured} is not the measurement the receipt states"
        )));
    }
    trust.check_measurement(&measured)?;
    Ok(claims)
}

fn jcs_root(v: &Value) -> Result<veil_content::Root, VerifyError> {
    let bytes = veil_jcs::to_canonical_vec(v).map_err(|e| VerifyError::Evidence(e.to_string()))?;
    veil_content::root_of(&bytes).map_err(|e| VerifyError::Evidence(e.to_string()))
}

/// A zk receipt carries its proof: check it under a pinned key, that the receipt's
/// hashes are its, and that the model it names is the one the proof commits to.
fn check_zk(r: &Receipt, pins: &ZkPins) -> Result<(), VerifyError> {
    let zk = r
        .evidence
        .as_ref()
        .and_then(|e| e.get("zk"))
        .ok_or_else(|| VerifyError::Evidence("a zk receipt must carry its proof".into()))?;
    let bad = |e: veil_zk::ZkError| VerifyError::Evidence(e.to_string());
    // Before anything else: a key the bearer chose is no evidence at all.
    let vk_hash = veil_zk::snarkjs::vk_hash(&zk["vk"]).map_err(bad)?;
    if !pins.keys.contains(&vk_hash) {
        return Err(VerifyError::UntrustedKey(vk_hash));
    }
    let vk = veil_zk::snarkjs::vk_from_json(&zk["vk"]).map_err(bad)?;
    let proof = veil_zk::snarkjs::proof_from_json(&zk["proof"]).map_err(bad)?;
    let public = veil_zk::snarkjs::public_from_json(&zk["public"]).map_err(bad)?;
    if !veil_zk::groth::verify(&vk, &public, &proof).map_err(bad)? {
        return Err(VerifyError::Evidence("the Groth16 proof does not verify".into()));
    }
    let mut output = serde_json::json!({ "proof": zk["proof"], "public": zk["public"] });
    if zk["circuit"] == veil_zk::mlp::CIRCUIT_ID {
        // The outputs the receipt reports must be the ones the proof commits to.
        veil_zk::mlp::check_reported_result(&public, &zk["result"]).map_err(bad)?;
        output["result"] = zk["result"].clone();
        check_model(r, &public, pins)?;
    } else if r.model_hash.is_some() {
        return Err(VerifyError::ModelUnbound(
            "the receipt names a model its circuit does not commit to".into(),
        ));
    }
    if jcs_root(&output)? != r.output_hash || jcs_root(&zk["public"])? != r.input_hash {
        return Err(VerifyError::Evidence("the receipt's hashes are not its proof's".into()));
    }
    let event_ok = r.events.iter().any(
        |e| matches!(e.payload::<ZkProof>(), Some(Ok(p)) if p.vk_hash == vk_hash && p.public == zk["public"]),
    );
    if !event_ok {
        return Err(VerifyError::Events("no zk.proof event names this key and these public inputs".into()));
    }
    Ok(())
}

/// A proof of inference commits to its model as public input `M`; the receipt's
/// `model_hash` (a weights root) means something only if the caller pinned that root to
/// that commitment.
fn check_model(r: &Receipt, public: &[veil_zk::Fr], pins: &ZkPins) -> Result<(), VerifyError> {
    // Canonical decimal, as snarkjs and `GET /v1/prover` write it.
    let committed = public
        .get(veil_zk::mlp::PUBLIC_MODEL_COMMITMENT)
        .ok_or_else(|| VerifyError::ModelUnbound("the proof has no model commitment".into()))?
        .to_string();
    let model = r
        .model_hash
        .ok_or_else(|| VerifyError::ModelUnbound("a proof of inference must name its model".into()))?;
    if !pins.models.iter().any(|p| p.model_root == model && p.commitment == committed) {
        return Err(VerifyError::ModelUnbound(format!(
            "you pinned no model {model} with commitment {committed}"
        )));
    }
    Ok(())
}

/// The events each kind of job must record, in this order.
const TOKEN_JOB: [&str; 7] = [
    event::REQUEST_RECEIVED,
    event::NFT_AUTHORIZED,
    event::KEY_RELEASED,
    event::DATA_LOADED,
    event::MODEL_LOADED,
    event::INFERENCE_COMPLETED,
    event::RESPONSE_RETURNED,
];
/// A chat over a token's documents: the language model's event where inference's was.
const CHAT_JOB: [&str; 7] = [
    event::REQUEST_RECEIVED,
    event::NFT_AUTHORIZED,
    event::KEY_RELEASED,
    event::DATA_LOADED,
    event::MODEL_LOADED,
    event::LLM_COMPLETED,
    event::RESPONSE_RETURNED,
];
/// A paid marketplace chat: no token, so no key or data; the user is the subject.
const MARKET_CHAT_JOB: [&str; 5] = [
    event::REQUEST_RECEIVED,
    event::MODEL_LOADED,
    event::LLM_COMPLETED,
    event::MARKET_CHARGED,
    event::RESPONSE_RETURNED,
];
const DIRECT_JOB: [&str; 4] =
    [event::REQUEST_RECEIVED, event::MODEL_LOADED, event::INFERENCE_COMPLETED, event::RESPONSE_RETURNED];
const FHE_JOB: [&str; 4] =
    [event::REQUEST_RECEIVED, event::MODEL_LOADED, event::FHE_EVALUATED, event::RESPONSE_RETURNED];
/// Training on a token's data: the spec is the receipt's model, so no model is loaded.
const TRAIN_JOB: [&str; 6] = [
    event::REQUEST_RECEIVED,
    event::NFT_AUTHORIZED,
    event::KEY_RELEASED,
    event::DATA_LOADED,
    event::TRAIN_COMPLETED,
    event::RESPONSE_RETURNED,
];

/// What a client that sent `query` and received `answer` (their bytes) checks
/// against an fhe receipt it verified: the receipt is about these very ciphertexts.
pub fn check_fhe_exchange(r: &Receipt, query: &[u8], answer: &[u8]) -> Result<(), VerifyError> {
    let bad = |m: &str| Err(VerifyError::Events(m.into()));
    let ev = r.events.iter().find_map(|e| e.payload::<FheEvaluated>());
    let Some(Ok(ev)) = ev else {
        return bad("the receipt records no fhe.evaluated event");
    };
    let root = |b: &[u8]| veil_content::root_of(b).ok();
    if r.mode != Mode::Fhe || root(query) != Some(r.input_hash) || ev.query_hash != r.input_hash {
        return bad("the receipt is not about the query you sent");
    }
    if root(answer) != Some(ev.answer_hash) {
        return bad("the answer you received is not the one the receipt names");
    }
    Ok(())
}

fn check_events(r: &Receipt) -> Result<(), VerifyError> {
    // Times, ordering and root-shaped fields were checked with the signature.
    let bad = |m: String| Err(VerifyError::Events(m));
    let known: Vec<&str> = r
        .events
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|k| {
            TOKEN_JOB.contains(k)
                || CHAT_JOB.contains(k)
                || FHE_JOB.contains(k)
                || TRAIN_JOB.contains(k)
                || MARKET_CHAT_JOB.contains(k)
        })
        .collect();
    let chat = known.contains(&event::LLM_COMPLETED);
    if r.mode == Mode::Tee {
        let required: &[&str] = match (chat, r.context_hash.is_some()) {
            (true, true) => &CHAT_JOB,
            (true, false) => &MARKET_CHAT_JOB,
            (false, true) => &TOKEN_JOB,
            (false, false) => &DIRECT_JOB,
        };
        if known != required {
            return bad(format!("expected {} in order, found {}", required.join(", "), known.join(", ")));
        }
    }
    if (r.mode == Mode::Train) != (known == TRAIN_JOB) {
        return bad(format!("a {} receipt with events {}", r.mode, known.join(", ")));
    }
    if r.mode == Mode::Fhe && known != FHE_JOB {
        return bad(format!("expected {} in order, found {}", FHE_JOB.join(", "), known.join(", ")));
    }
    let rounds = r.events.iter().filter(|e| e.kind == event::FL_ROUND).count();
    if (r.mode == Mode::Fl) != (rounds == 1) || rounds > 1 {
        return bad(format!("an {} receipt with {rounds} fl.round events", r.mode));
    }
    for e in &r.events {
        // A known event whose data does not fit its type agrees with nothing.
        let ok = if let Some(p) = e.payload::<NftAuthorized>() {
            p.is_ok_and(|p| r.subject.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(&p.user)))
        } else if let Some(p) = e.payload::<DataLoaded>() {
            // A chat's context is the passages retrieved from the loaded documents
            // (private, so only their root is shown); a record job's is the data itself.
            p.is_ok_and(|p| chat || r.context_hash == Some(p.root))
        } else if let Some(p) = e.payload::<LlmCompleted>() {
            p.is_ok()
        } else if let Some(p) = e.payload::<MarketCharged>() {
            p.is_ok_and(|p| market_charge_agrees(r, &p))
        } else if let Some(p) = e.payload::<FheEvaluated>() {
            p.is_ok_and(|p| {
                r.mode == Mode::Fhe
                    && p.query_hash == r.input_hash
                    && p.params_hash.len() == 64
                    && p.params_hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
        } else if let Some(p) = e.payload::<TrainCompleted>() {
            // The dataset is the receipt's context and the spec its model; what was
            // made is known by its root alone.
            p.is_ok_and(|p| {
                r.mode == Mode::Train
                    && r.context_hash == Some(p.dataset)
                    && r.model_hash == Some(p.spec)
                    && p.rows > 0
                    && p.features > 0
            })
        } else if let Some(p) = e.payload::<FlRound>() {
            p.is_ok_and(|p| fl_round_agrees(r, &p))
        } else if let Some(p) = e.payload::<ModelLoaded>() {
            p.is_ok_and(|p| r.model_hash.is_none_or(|m| m == p.weights_hash))
        } else if let Some(p) = e.payload::<ResponseReturned>() {
            p.is_ok_and(|p| p.body_hash == r.output_hash)
        } else {
            true
        };
        if !ok {
            return bad(format!("{} does not agree with the receipt's fields", e.kind));
        }
    }
    Ok(())
}

/// A `market.charged` event prices the usage the chat's `llm.completed` records at the
/// prices it names, for the receipt's subject.
fn market_charge_agrees(r: &Receipt, p: &MarketCharged) -> bool {
    // Amounts are wei as decimal strings; any real price fits in 128 bits.
    let llm = r.events.iter().find_map(|e| e.payload::<LlmCompleted>()).and_then(Result::ok);
    let num = |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u128>().ok()).flatten();
    let (Some(llm), Some(input), Some(output), Some(fee)) =
        (llm, num(&p.input_price), num(&p.output_price), num(&p.fee))
    else {
        return false;
    };
    let due = input
        .checked_mul(u128::from(p.prompt_tokens))
        .and_then(|a| output.checked_mul(u128::from(p.completion_tokens)).and_then(|b| a.checked_add(b)));
    r.subject.is_some()
        && llm.prompt_tokens == p.prompt_tokens
        && llm.completion_tokens == p.completion_tokens
        && due == Some(fee)
}

/// An `fl.round` event states what the receipt's fields do: the round's subject, the
/// model it started from and the one it made; one update commitment per survivor, and
/// no client both a survivor and dropped.
fn fl_round_agrees(r: &Receipt, p: &FlRound) -> bool {
    let sorted_unique = |v: &[u32]| v.windows(2).all(|w| w[0] < w[1]);
    let committed: Vec<String> = p.survivors.iter().map(u32::to_string).collect();
    let mut keys: Vec<&String> = p.update_roots.keys().collect();
    let mut want: Vec<&String> = committed.iter().collect();
    keys.sort();
    want.sort();
    r.subject.as_deref() == Some(format!("fl:{}/{}", p.federation, p.round).as_str())
        && r.output_hash == p.global_root
        && r.model_hash == Some(p.previous_root)
        && !p.survivors.is_empty()
        && sorted_unique(&p.survivors)
        && sorted_unique(&p.dropped)
        && !p.dropped.iter().any(|d| p.survivors.contains(d))
        && keys == want
        && p.total_weight.is_finite()
        && p.total_weight > 0.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use veil_content::Root;
    use veil_receipt::{Event, Mode, Receipt, event};

    use super::{check_events, check_fhe_exchange};

    /// An fhe receipt names the query by the root of its bytes, twice (input_hash and
    /// the event), and the answer by the event: a receipt about other ciphertexts, or
    /// with its evaluation event dropped or moved, is refused.
    #[test]
    fn an_fhe_receipt_is_about_the_exact_ciphertexts_exchanged() {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let (query, answer) = (b"query ciphertext bytes".to_vec(), b"answer ciphertext bytes".to_vec());
        let root = |b: &[u8]| veil_content::root_of(b).unwrap();
        let out = Root([3; 32]);
        let mut r = Receipt::new(Mode::Fhe, root(&query), out, at);
        let fhe = json!({"scheme": "bfv", "params_hash": "ab".repeat(32), "query_hash": root(&query),
            "answer_hash": root(&answer), "rows": 2});
        let events = vec![
            Event::new(event::REQUEST_RECEIVED, at, json!({})),
            Event::new(event::MODEL_LOADED, at, json!({"weights_hash": Root([6; 32]), "name": "m"})),
            Event::new(event::FHE_EVALUATED, at, fhe.clone()),
            Event::new(event::RESPONSE_RETURNED, at, json!({"body_hash": out})),
        ];
        r.events = events.clone();
        check_events(&r).expect("an fhe receipt's events agree");
        check_fhe_exchange(&r, &query, &answer).expect("the exchanged ciphertexts are the receipt's");

        let mut other = answer.clone();
        other[0] ^= 1;
        assert_ne!(other, answer);
        assert!(check_fhe_exchange(&r, &query, &other).is_err(), "another answer");
        assert!(check_fhe_exchange(&r, &other, &answer).is_err(), "another query");
        r.events.remove(2);
        assert!(check_events(&r).is_err(), "without its fhe.evaluated");
        r.events = events.clone();
        r.events.swap(1, 2);
        assert!(check_events(&r).is_err(), "fhe.evaluated before model.loaded");
        r.events = events.clone();
        let mut moved = fhe;
        moved["query_hash"] = json!(Root([9; 32]));
        r.events[2] = Event::new(event::FHE_EVALUATED, at, moved);
        assert!(check_events(&r).is_err(), "an event about another query");
        r.events = events;
        r.mode = Mode::Tee;
        assert!(check_events(&r).is_err(), "an fhe event in a tee receipt");
    }

    /// An fl receipt's round event states the receipt's own fields: the round in its
    /// subject, the model it started from and the one it made, one commitment per
    /// survivor; a receipt whose event says otherwise, or that has none or two, is
    /// refused, and a round event in another mode's receipt too.
    #[test]
    fn an_fl_receipt_agrees_with_its_round_event() {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let (prev, next) = (Root([1; 32]), Root([2; 32]));
        let mut r = Receipt::new(Mode::Fl, Root([4; 32]), next, at);
        r.model_hash = Some(prev);
        r.subject = Some("fl:wdbc-00/3".into());
        let round = json!({"federation": "wdbc-00", "round": 3, "owner": "ab", "previous_root": prev,
            "global_root": next, "survivors": [1, 2, 4], "dropped": [3],
            "update_roots": {"1": Root([7; 32]), "2": Root([8; 32]), "4": Root([9; 32])}, "total_weight": 0.3});
        r.events = vec![Event::new(event::FL_ROUND, at, round.clone())];
        check_events(&r).expect("an fl receipt's event agrees");
        let bent = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = round.clone();
            f(&mut v);
            assert_ne!(v, round);
            let mut r2 = r.clone();
            r2.events = vec![Event::new(event::FL_ROUND, at, v)];
            r2
        };
        for (why, r2) in [
            ("another round", bent(&|v| v["round"] = json!(4))),
            ("another result", bent(&|v| v["global_root"] = json!(Root([5; 32])))),
            ("another start", bent(&|v| v["previous_root"] = json!(Root([5; 32])))),
            ("a survivor also dropped", bent(&|v| v["dropped"] = json!([2]))),
            ("a survivor without a commitment", bent(&|v| v["survivors"] = json!([1, 2, 4, 5]))),
            ("nobody", bent(&|v| v["survivors"] = json!([]))),
        ] {
            assert!(check_events(&r2).is_err(), "{why}");
        }
        let mut two = r.clone();
        two.events.push(two.events[0].clone());
        assert!(check_events(&two).is_err(), "two round events");
        let mut none = r.clone();
        none.events.clear();
        assert!(check_events(&none).is_err(), "no round event");
        let mut tee = r;
        tee.mode = Mode::Tee;
        assert!(check_events(&tee).is_err(), "a round event in a tee receipt");
    }

    #[test]
    fn a_train_receipt_names_its_dataset_and_spec_in_its_event() {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let (data, spec) = (Root([1; 32]), Root([2; 32]));
        let mut r = Receipt::new(Mode::Train, Root([4; 32]), Root([5; 32]), at);
        r.subject = Some("0x00000000000000000000000000000000000000aa".into());
        r.model_hash = Some(spec);
        r.context_hash = Some(data);
        let trained = json!({"dataset": data, "spec": spec, "model": Root([6; 32]), "sealed": Root([7; 32]),
            "rows": 455, "features": 30, "epochs": 300});
        let events = |t: serde_json::Value| {
            vec![
                Event::new(event::REQUEST_RECEIVED, at, json!({"signer": r.subject})),
                Event::new(
                    event::NFT_AUTHORIZED,
                    at,
                    json!({"chain_id": 1, "contract": "0x01", "token": "1",
                    "user": r.subject, "block": 3}),
                ),
                Event::new(event::KEY_RELEASED, at, json!({"resource": "token/1", "decision": "released"})),
                Event::new(event::DATA_LOADED, at, json!({"root": data, "bytes": 10})),
                Event::new(event::TRAIN_COMPLETED, at, t),
                Event::new(event::RESPONSE_RETURNED, at, json!({"body_hash": Root([5; 32])})),
            ]
        };
        r.events = events(trained.clone());
        check_events(&r).expect("a train receipt's events agree");
        for (why, f) in [
            (
                "another dataset",
                &(|v: &mut serde_json::Value| v["dataset"] = json!(Root([9; 32]))) as &dyn Fn(&mut _),
            ),
            ("another spec", &|v: &mut serde_json::Value| v["spec"] = json!(Root([9; 32]))),
            ("no rows", &|v: &mut serde_json::Value| v["rows"] = json!(0)),
        ] {
            let mut v = trained.clone();
            f(&mut v);
            assert_ne!(v, trained);
            let mut r2 = r.clone();
            r2.events = events(v);
            assert!(check_events(&r2).is_err(), "{why}");
        }
        let mut missing = r.clone();
        missing.events.remove(4);
        assert!(check_events(&missing).is_err(), "no train.completed");
        let mut tee = r;
        tee.mode = Mode::Tee;
        assert!(check_events(&tee).is_err(), "a train event in a tee receipt");
    }

    /// A chat receipt: its `data.loaded` names the sealed documents, its context hash
    /// the passages retrieved from them; the language model's event is required in
    /// inference's place, and dropping or reordering it is refused.
    #[test]
    fn a_chat_receipt_needs_its_llm_event_in_place() {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let (docs, context, out) = (Root([1; 32]), Root([2; 32]), Root([3; 32]));
        let mut r = Receipt::new(Mode::Tee, Root([4; 32]), out, at);
        r.subject = Some("0xabc".into());
        r.context_hash = Some(context);
        let llm = json!({"completion_hash": Root([5; 32]), "decoding": "greedy", "max_tokens": 8,
            "context_passages": 1, "prompt_tokens": 90, "completion_tokens": 8, "finish_reason": "length"});
        let events = vec![
            Event::new(event::REQUEST_RECEIVED, at, json!({})),
            Event::new(
                event::NFT_AUTHORIZED,
                at,
                json!({"chain_id": 1, "contract": "0x0", "token": "1", "user": "0xABC", "block": 3}),
            ),
            Event::new(event::KEY_RELEASED, at, json!({"resource": "token/1", "decision": "1:sha256:00"})),
            Event::new(event::DATA_LOADED, at, json!({"root": docs, "bytes": 10})),
            Event::new(event::MODEL_LOADED, at, json!({"weights_hash": Root([6; 32]), "name": "m"})),
            Event::new(event::LLM_COMPLETED, at, llm),
            Event::new(event::RESPONSE_RETURNED, at, json!({"body_hash": out})),
        ];
        r.events = events.clone();
        check_events(&r).expect("a chat receipt verifies");

        r.events.remove(5);
        assert!(check_events(&r).is_err(), "without its llm.completed");
        r.events = events.clone();
        r.events.swap(4, 5);
        assert!(check_events(&r).is_err(), "llm.completed before model.loaded");
        r.events = events;
        r.events[5] = Event::new(event::LLM_COMPLETED, at, json!({"decoding": 3}));
        assert!(check_events(&r).is_err(), "an llm.completed that does not parse");
    }

    /// A marketplace chat's receipt prices its usage: a fee that is not the recorded
    /// tokens at the recorded prices, token counts that differ from the chat's, or no
    /// user, is refused; so is the event missing or out of place.
    #[test]
    fn a_market_receipt_charges_exactly_its_usage_at_its_prices() {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let out = Root([3; 32]);
        let mut r = Receipt::new(Mode::Tee, Root([4; 32]), out, at);
        r.subject = Some("0xabc".into());
        let llm = json!({"decoding": "greedy", "max_tokens": 8, "context_passages": 0,
            "prompt_tokens": 30, "completion_tokens": 8, "finish_reason": "length"});
        let charged = |fee: &str, prompt: u64| {
            Event::new(
                event::MARKET_CHARGED,
                at,
                json!({"provider": "0x01", "chat_id": "chatcmpl-1", "input_price": "1000", "output_price": "2000",
                    "prompt_tokens": prompt, "completion_tokens": 8, "fee": fee}),
            )
        };
        let events = vec![
            Event::new(event::REQUEST_RECEIVED, at, json!({})),
            Event::new(event::MODEL_LOADED, at, json!({"weights_hash": Root([6; 32]), "name": "m"})),
            Event::new(event::LLM_COMPLETED, at, llm),
            charged("46000", 30),
            Event::new(event::RESPONSE_RETURNED, at, json!({"body_hash": out})),
        ];
        r.events = events.clone();
        check_events(&r).expect("30 × 1000 + 8 × 2000 = 46000");

        r.events[3] = charged("46001", 30);
        assert!(check_events(&r).is_err(), "a fee above the usage");
        r.events[3] = charged("1000", 1);
        assert!(check_events(&r).is_err(), "token counts that are not the chat's");
        r.events[3] = charged("-1", 30);
        assert!(check_events(&r).is_err(), "a fee that is not a decimal");
        r.events = events.clone();
        r.subject = None;
        assert!(check_events(&r).is_err(), "a charge for nobody");
        r.subject = Some("0xabc".into());
        r.events.remove(3);
        assert!(check_events(&r).is_err(), "a chat with no context and no charge");
        r.events = events;
        r.events.swap(2, 3);
        assert!(check_events(&r).is_err(), "the charge before the chat");
    }
}
