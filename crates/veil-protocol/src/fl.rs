//! Federated learning's messages: what a federation's owner, its clients and the
//! aggregator (an attested worker) exchange for one round. Secure aggregation's own
//! messages are [`crate::secagg`]; here they travel signed by their sender.
//!
//! Trust: the owner's Ed25519 key names the federation ([`federation_id`]) and signs
//! each round's start, which lists every participant's Ed25519 key; every client
//! message is signed by its sender over the federation, the round and the body, so
//! the aggregator refuses a stranger and a replay from another round or federation,
//! and clients check each other's advertised X25519 keys against the owner's list —
//! an aggregator cannot slip its own keys in between two clients.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use veil_content::Root;
use veil_receipt::SignedReceipt;

use crate::Problem;
use crate::secagg::{
    Advertise, ClientId, Masked, Reveal, RoundConfig, SealedShares, ShareKeys, UnmaskRequest,
};

/// What a client signs a round message under.
pub const FL_MESSAGE_DOMAIN: &[u8] = b"veil/fl/message/v1\0";
/// What an owner signs a round start under.
pub const FL_ROUND_DOMAIN: &[u8] = b"veil/fl/round/v1\0";
/// What a federation id is derived under.
pub const FL_FEDERATION_DOMAIN: &[u8] = b"veil/fl/federation/v1\0";
/// The longest federation name.
pub const MAX_FEDERATION_NAME: usize = 64;

/// How a client trains a logistic regression locally (full-batch gradient descent on
/// the log loss plus `l2`/2 · ‖w‖², bias not penalised), on features scaled to
/// [0, 1] by the published ranges `feature_min`/`feature_max` — public metadata of the
/// dataset, so no client's statistics leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Local epochs per round.
    pub epochs: u32,
    /// The step size.
    pub learning_rate: f32,
    /// The L2 penalty.
    pub l2: f32,
    /// Per feature: the value scaled to 0.
    pub feature_min: Vec<f32>,
    /// Per feature: the value scaled to 1.
    pub feature_max: Vec<f32>,
}

/// A logistic regression: P(class 1 | x) = σ(w · scale(x) + b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrModel {
    /// The format, [`LrModel::FORMAT`].
    pub format: String,
    /// One weight per feature.
    pub weights: Vec<f32>,
    /// The bias.
    pub bias: f32,
}

impl LrModel {
    /// The format tag of a model file.
    pub const FORMAT: &'static str = "veil.lr/1";

    /// The all-zero model over `features` features (every federation's round 1).
    pub fn zeros(features: usize) -> Self {
        Self { format: Self::FORMAT.into(), weights: vec![0.0; features], bias: 0.0 }
    }

    /// Its parameters as one vector, bias last (what an update is).
    pub fn params(&self) -> Vec<f32> {
        let mut p = self.weights.clone();
        p.push(self.bias);
        p
    }

    /// The model with `params` (bias last).
    pub fn from_params(params: &[f32]) -> Self {
        let (bias, weights) = params.split_last().map_or((0.0, &[][..]), |(b, w)| (*b, w));
        Self { format: Self::FORMAT.into(), weights: weights.to_vec(), bias }
    }
}

/// Where a round is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Collecting clients' public keys.
    Advertise,
    /// Collecting encrypted shares.
    ShareKeys,
    /// Collecting masked updates.
    Masked,
    /// Collecting revealed shares.
    Unmask,
    /// Finished with an aggregate.
    Done,
    /// Finished without one.
    Aborted,
}

impl Stage {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Advertise => "advertise",
            Self::ShareKeys => "share_keys",
            Self::Masked => "masked",
            Self::Unmask => "unmask",
            Self::Done => "done",
            Self::Aborted => "aborted",
        }
    }
}

/// The owner's order to run one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundStart {
    /// The federation's name (its id is derived from it and the owner's key).
    pub name: String,
    /// The owner's Ed25519 key, hex.
    pub owner: String,
    /// Secure aggregation's configuration; its `federation` is the federation id
    /// and its `participants` are exactly the keys of `clients`.
    pub config: RoundConfig,
    /// Each participant's Ed25519 key, hex.
    pub clients: BTreeMap<ClientId, String>,
    /// How clients train.
    pub spec: TrainSpec,
    /// The root (of the JCS bytes) of the model this round starts from.
    pub global_root: Root,
    /// That model sealed (veil-seal) to the federation's model key and to the
    /// aggregator's attested sealing key, standard base64: only the federation's
    /// members and the enclave read it.
    pub global_sealed: String,
    /// The federation's model key (a Veil public key, `veilpk1…`): every global model is
    /// sealed to it. Its identity is the federation's secret, held by the owner and
    /// given to each client with the roster.
    pub model_key: String,
    /// How long each stage waits for the clients still in (milliseconds); those that
    /// have not answered by then count as dropped.
    pub stage_timeout_ms: u64,
    /// The federation registry the round is recorded in: the aggregator then signs
    /// the round's record for it (that chain, that contract) with its attested
    /// secp256k1 key. Any chain: the registry need not be on the tokens' chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryRef>,
}

/// A federation registry: the chain and the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryRef {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The contract (0x address).
    pub address: String,
}

impl RoundStart {
    /// The bytes the owner signs: the domain, then the JCS of the start.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        signing_bytes(FL_ROUND_DOMAIN, &serde_json::to_value(self)?)
    }
}

/// A round start and the owner's Ed25519 signature over [`RoundStart::signing_bytes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRoundStart {
    /// The start.
    pub start: RoundStart,
    /// Hex.
    pub signature: String,
}

/// One stage's message from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", content = "body", rename_all = "snake_case")]
pub enum FlBody {
    /// Stage 1.
    Advertise(Advertise),
    /// Stage 2.
    ShareKeys(ShareKeys),
    /// Stage 3.
    Masked(Masked),
    /// Stage 4.
    Reveal(Reveal),
}

impl FlBody {
    /// The client the body speaks for.
    pub fn client(&self) -> ClientId {
        match self {
            Self::Advertise(m) => m.client,
            Self::ShareKeys(m) => m.client,
            Self::Masked(m) => m.client,
            Self::Reveal(m) => m.client,
        }
    }

    /// The stage it belongs to.
    pub fn stage(&self) -> Stage {
        match self {
            Self::Advertise(_) => Stage::Advertise,
            Self::ShareKeys(_) => Stage::ShareKeys,
            Self::Masked(_) => Stage::Masked,
            Self::Reveal(_) => Stage::Unmask,
        }
    }
}

/// A client's message, signed over the federation, the round and the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlMessage {
    /// The federation id.
    pub federation: String,
    /// The round.
    pub round: u64,
    /// The message.
    #[serde(flatten)]
    pub body: FlBody,
    /// Ed25519 over [`FlMessage::signing_bytes`], hex.
    pub signature: String,
}

impl FlMessage {
    /// The bytes a client signs: the domain, then the JCS of everything but the
    /// signature.
    pub fn signing_bytes(federation: &str, round: u64, body: &FlBody) -> Result<Vec<u8>, serde_json::Error> {
        let mut v = serde_json::to_value(body)?;
        if let Value::Object(m) = &mut v {
            m.insert("federation".into(), Value::from(federation));
            m.insert("round".into(), Value::from(round));
        }
        signing_bytes(FL_MESSAGE_DOMAIN, &v)
    }
}

fn signing_bytes(domain: &[u8], v: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = domain.to_vec();
    out.extend(veil_jcs::to_canonical_vec(v).map_err(serde::ser::Error::custom)?);
    Ok(out)
}

/// What the aggregator shows of a round, to anyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundView {
    /// The owner's signed start, which clients check against the owner key they
    /// were given.
    pub start: SignedRoundStart,
    /// The root of the JCS of the start's global model.
    pub global_root: Root,
    /// Where it is.
    pub stage: Stage,
    /// The result, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RoundOutcome>,
    /// Why it stopped, once aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<Problem>,
}

/// The aggregator's answer to a client polling for a stage's input: the signed
/// advertisements (stage 2), the bundles addressed to it (stage 3), or the unmask
/// request (stage 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", content = "body", rename_all = "snake_case")]
pub enum StageInput {
    /// Everyone's signed advertisement.
    ShareKeys(Vec<FlMessage>),
    /// The share bundles others sent this client.
    Masked(Vec<SealedShares>),
    /// Whose shares to reveal.
    Unmask(UnmaskRequest),
}

/// A finished round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundOutcome {
    /// The new global model's root (JCS).
    pub global_root: Root,
    /// The new global model sealed to the start's model key and to the aggregator's
    /// own sealing key (so it can start the next round), standard base64.
    pub global_sealed: String,
    /// The root of the sealed bytes: the name the aggregator stored them under.
    pub sealed_root: Root,
    /// The receipt, mode `fl`, signed by the aggregator's attested key.
    pub receipt: SignedReceipt,
    /// When the start named a registry: the round's record as the registry takes it,
    /// and the aggregator's signature over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<SignedRecord>,
}

alloy::sol! {
    /// What the aggregator signs for the federation registry (EIP-712): the round, the
    /// owner's start, the models before and after, the receipt, and the survivors with
    /// the root of each one's masked update.
    #[derive(Debug, PartialEq, Eq)]
    struct Round {
        bytes32 federation;
        uint64 round;
        bytes32 startRoot;
        bytes32 previousModel;
        bytes32 globalModel;
        bytes32 receiptId;
        uint32[] survivors;
        bytes32[] updateRoots;
    }
}

/// The EIP-712 domain of the federation registry `registry` on `chain_id`.
pub fn registry_domain(
    chain_id: u64,
    registry: alloy::primitives::Address,
) -> alloy::sol_types::Eip712Domain {
    alloy::sol_types::Eip712Domain::new(
        Some("VeilFederationRegistry".into()),
        Some("1".into()),
        Some(alloy::primitives::U256::from(chain_id)),
        Some(registry),
        None,
    )
}

/// A round's record for the registry and the aggregator's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRecord {
    /// The chain.
    pub chain_id: u64,
    /// The registry (0x address).
    pub registry: String,
    /// The federation's key on chain: keccak256 of its id.
    pub federation: alloy::primitives::B256,
    /// The round.
    pub round: u64,
    /// Root of the owner's signed start.
    pub start_root: alloy::primitives::B256,
    /// The model the round started from.
    pub previous_model: alloy::primitives::B256,
    /// The model it made.
    pub global_model: alloy::primitives::B256,
    /// The receipt's id (its SHA-256).
    pub receipt_id: alloy::primitives::B256,
    /// Survivors, ascending.
    pub survivors: Vec<u32>,
    /// Their masked updates' roots, in the same order.
    pub update_roots: Vec<alloy::primitives::B256>,
    /// The aggregator's enclave address.
    pub aggregator: alloy::primitives::Address,
    /// Its 65-byte signature (0x-hex) over the EIP-712 `Round`.
    pub signature: alloy::primitives::Bytes,
}

impl SignedRecord {
    /// The typed data signed.
    pub fn typed(&self) -> Round {
        Round {
            federation: self.federation,
            round: self.round,
            startRoot: self.start_root,
            previousModel: self.previous_model,
            globalModel: self.global_model,
            receiptId: self.receipt_id,
            survivors: self.survivors.clone(),
            updateRoots: self.update_roots.clone(),
        }
    }
}
