//! Federated learning over secure aggregation, with no I/O and no clock.
//!
//! A federation is named by its owner's Ed25519 key ([`federation_id`]); each round
//! starts from the owner's signed order ([`veil_protocol::fl::RoundStart`]) listing
//! every participant's key, the training spec and the global model. Clients train a
//! logistic regression locally ([`lr`]) on their own rows ([`shard`] is the fixed
//! non-IID split the benchmarks and tests use), send the difference from the global
//! model through secure aggregation (`veil-secagg`), and the aggregator's
//! [`Session`] adds the weighted mean (FedAvg) to the global model.
//!
//! Invariants this crate keeps (and tests): a session opens only on a start the
//! federation's owner signed, whose round follows the last one it finished and
//! starts from that round's model; it takes a message only when signed by the key the
//! start lists for its sender over this federation, this round and this stage, so a
//! stranger's message and a replay from another round or federation are refused; a
//! client whose message is refused counts as dropped and the round goes on without it;
//! a [`Participant`] takes part only in rounds its owner signed and checks every
//! peer's advertised keys against the owner's list before sharing anything.
#![forbid(unsafe_code)]

pub mod lr;
mod participant;
mod session;
pub mod shard;

pub use participant::{Participant, local_update};
pub use session::{Finished, LastRound, Session};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};
use veil_content::Root;
use veil_protocol::fl::{
    FL_FEDERATION_DOMAIN, FlBody, FlMessage, LrModel, MAX_FEDERATION_NAME, RoundStart, SignedRoundStart,
    Stage,
};
use veil_secagg::SecAggError;

/// Why a round, or a message in it, was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlError {
    /// A message not signed by a participant of this round (unknown client, wrong
    /// key, another round or federation).
    #[error("not a participant: {0}")]
    NotParticipant(String),
    /// A message for another stage than the round's.
    #[error("the round is at {is}, not {want}")]
    WrongStage {
        /// Where the round is.
        is: &'static str,
        /// What the message was for.
        want: &'static str,
    },
    /// A message that does not fit the round.
    #[error("bad message: {0}")]
    BadMessage(#[from] SecAggError),
    /// A start that is not the owner's, does not follow the last round, or has an
    /// unusable configuration.
    #[error("bad round: {0}")]
    BadRound(String),
    /// The round ended without an aggregate.
    #[error("round aborted: {0}")]
    Aborted(SecAggError),
    /// Training data that does not fit the spec.
    #[error("training data: {0}")]
    Data(String),
}

/// The federation id of `name` under `owner`: `{name}-{16 hex of SHA-256(domain ‖
/// owner ‖ name)}`, so only the owner key's holder can start its rounds. `None` when
/// the name is empty, longer than [`MAX_FEDERATION_NAME`], or not `[A-Za-z0-9_.]`.
pub fn federation_id(name: &str, owner: &VerifyingKey) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_FEDERATION_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    ok.then(|| {
        let mut h = Sha256::new();
        h.update(FL_FEDERATION_DOMAIN);
        h.update(owner.as_bytes());
        h.update(name.as_bytes());
        format!("{name}-{}", hex::encode(&h.finalize()[..8]))
    })
}

/// The Ed25519 key in `hex`.
pub fn parse_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{hex_key:?} is not 32 bytes of hex"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| format!("{hex_key} is not an Ed25519 key"))
}

fn parse_signature(hex_sig: &str) -> Option<Signature> {
    let bytes: [u8; 64] = hex::decode(hex_sig).ok()?.try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

/// The owner's signed order for `start`.
pub fn sign_start(owner: &SigningKey, start: RoundStart) -> Result<SignedRoundStart, FlError> {
    let bytes = start.signing_bytes().map_err(|e| FlError::BadRound(e.to_string()))?;
    Ok(SignedRoundStart { signature: hex::encode(owner.sign(&bytes).to_bytes()), start })
}

/// Check a signed start: the owner's signature, the federation id its key and name
/// give, and a configuration every party can run. Returns the participants' keys.
pub fn check_start(
    signed: &SignedRoundStart,
) -> Result<std::collections::BTreeMap<u32, VerifyingKey>, FlError> {
    let s = &signed.start;
    let owner = parse_key(&s.owner).map_err(FlError::BadRound)?;
    let bytes = s.signing_bytes().map_err(|e| FlError::BadRound(e.to_string()))?;
    let sig = parse_signature(&signed.signature)
        .filter(|sig| owner.verify(&bytes, sig).is_ok())
        .ok_or_else(|| FlError::BadRound("the start is not signed by its owner key".into()))?;
    let _ = sig;
    let id = federation_id(&s.name, &owner)
        .ok_or_else(|| FlError::BadRound(format!("{:?} is not a federation name", s.name)))?;
    if s.config.federation != id {
        return Err(FlError::BadRound(format!(
            "federation {:?} is not {id}, the id of {:?} under this owner",
            s.config.federation, s.name
        )));
    }
    veil_secagg::encode::check(&s.config)?;
    let listed: Vec<u32> = s.clients.keys().copied().collect();
    let mut participants = s.config.participants.clone();
    participants.sort_unstable();
    if listed != participants {
        return Err(FlError::BadRound("the participants are not exactly the listed clients".into()));
    }
    let features = s.spec.feature_min.len();
    if s.config.dim as usize != features + 1 {
        return Err(FlError::BadRound(format!(
            "the update has {} parameters and the model {features} weights and a bias",
            s.config.dim
        )));
    }
    lr::check_spec(&s.spec, features)?;
    s.clients
        .iter()
        .map(|(c, k)| Ok((*c, parse_key(k).map_err(|e| FlError::BadRound(format!("client {c}: {e}")))?)))
        .collect()
}

/// Check that `global` (opened from the start's sealed copy) is the model the start
/// names by root, shaped for its spec and finite.
pub fn check_global(s: &RoundStart, global: &LrModel) -> Result<(), FlError> {
    if global.format != LrModel::FORMAT || global.weights.len() != s.spec.feature_min.len() {
        return Err(FlError::BadRound(format!(
            "the global model is not a {} model over {} features",
            LrModel::FORMAT,
            s.spec.feature_min.len()
        )));
    }
    if global.params().iter().any(|v| !v.is_finite()) {
        return Err(FlError::BadRound("the global model is not finite".into()));
    }
    let root = jcs_root(global)?;
    if root != s.global_root {
        return Err(FlError::BadRound(format!(
            "the sealed model is {root}, the start names {}",
            s.global_root
        )));
    }
    Ok(())
}

/// `body` signed by `key` for `federation`'s round `round`.
pub fn sign_message(
    key: &SigningKey,
    federation: &str,
    round: u64,
    body: FlBody,
) -> Result<FlMessage, FlError> {
    let bytes = FlMessage::signing_bytes(federation, round, &body)
        .map_err(|e| FlError::NotParticipant(e.to_string()))?;
    Ok(FlMessage {
        federation: federation.to_owned(),
        round,
        signature: hex::encode(key.sign(&bytes).to_bytes()),
        body,
    })
}

/// Check that `msg` is for `federation`'s round `round` and signed by the key
/// `keys` lists for its sender.
pub fn check_message(
    msg: &FlMessage,
    federation: &str,
    round: u64,
    keys: &std::collections::BTreeMap<u32, VerifyingKey>,
) -> Result<(), FlError> {
    let client = msg.body.client();
    if msg.federation != federation || msg.round != round {
        return Err(FlError::NotParticipant(format!(
            "a message for {} round {}, not {federation} round {round}",
            msg.federation, msg.round
        )));
    }
    let key = keys
        .get(&client)
        .ok_or_else(|| FlError::NotParticipant(format!("client {client} is not in the round")))?;
    let bytes = FlMessage::signing_bytes(federation, round, &msg.body)
        .map_err(|e| FlError::NotParticipant(e.to_string()))?;
    parse_signature(&msg.signature)
        .filter(|sig| key.verify(&bytes, sig).is_ok())
        .map(|_| ())
        .ok_or_else(|| FlError::NotParticipant(format!("the message is not signed by client {client}'s key")))
}

/// The root of a value's JCS bytes (a model's, a start's).
pub fn jcs_root<T: serde::Serialize>(v: &T) -> Result<Root, FlError> {
    veil_content::root_of(&jcs_bytes(v)?).map_err(|e| FlError::BadRound(e.to_string()))
}

/// The JCS bytes of `v` (what [`jcs_root`] names, and what a sealed model holds).
pub fn jcs_bytes<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, FlError> {
    let value = serde_json::to_value(v).map_err(|e| FlError::BadRound(e.to_string()))?;
    veil_jcs::to_canonical_vec(&value).map_err(|e| FlError::BadRound(e.to_string()))
}

/// The stage's wire name.
pub(crate) fn stage_name(s: Stage) -> &'static str {
    s.as_str()
}
