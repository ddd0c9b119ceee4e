//! Typed payloads of the well-known events: written and read through these types,
//! never by key name.
//!
//! An [`Event`] on the wire is `{type, at, data}`; each struct here is the `data` of
//! one `type`. Serialising one gives exactly the object Veil has always written, so
//! receipts signed before these types existed hash and verify unchanged. Readers
//! accept extra fields (a newer writer may add some) and ignore event types they do
//! not know.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use veil_content::Root;

use crate::{Event, event};

/// The data of one well-known event type.
pub trait Payload: Serialize + DeserializeOwned {
    /// The event type it is the data of.
    const KIND: &'static str;
}

impl Event {
    /// The event carrying `payload`, at `at`.
    pub fn of<P: Payload>(at: time::OffsetDateTime, payload: &P) -> Self {
        // Every payload is a struct of plain fields: it always serialises to an object.
        Self::new(P::KIND, at, serde_json::to_value(payload).unwrap_or(Value::Null))
    }

    /// This event's data as `P`: `None` when the event is of another type, an error
    /// when it is of that type but its data does not fit.
    pub fn payload<P: Payload>(&self) -> Option<Result<P, serde_json::Error>> {
        (self.kind == P::KIND).then(|| serde_json::from_value(Value::Object(self.data.clone())))
    }
}

/// `request.received`: who asked, with the signed request's replay fields (absent
/// for requests that are not signed by a user, such as public-model rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestReceived {
    /// The recovered signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The request's nonce (decimal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The request's expiry (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<u64>,
    /// The user's signature (0x-hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// When the user's authority is a standing access grant (an API key) rather than
    /// a signed request: the grant's EIP-712 digest (0x-hex). `nonce`, `expiry` and
    /// `signature` are then the grant's, shared by every request made with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

impl Payload for RequestReceived {
    const KIND: &'static str = event::REQUEST_RECEIVED;
}

/// `nft.authorized`: where and when the ledger said the user may use the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftAuthorized {
    /// The chain read.
    pub chain_id: u64,
    /// The INFT contract (0x-hex).
    pub contract: String,
    /// The token (decimal).
    pub token: String,
    /// The user.
    pub user: String,
    /// The block `isAuthorized` was read at (null when not read on a chain).
    pub block: Option<u64>,
}

impl Payload for NftAuthorized {
    const KIND: &'static str = event::NFT_AUTHORIZED;
}

/// `key.released`: the broker's release and the audit entry that records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReleased {
    /// The resource (`token/<id>`).
    pub resource: String,
    /// The broker's audit head just after the decision (`LEN:sha256:HEX`).
    pub decision: String,
}

impl Payload for KeyReleased {
    const KIND: &'static str = event::KEY_RELEASED;
}

/// `data.loaded`: the sealed data, fetched and checked against its root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataLoaded {
    /// Its root.
    pub root: Root,
    /// Its size.
    pub bytes: u64,
}

impl Payload for DataLoaded {
    const KIND: &'static str = event::DATA_LOADED;
}

/// `model.loaded`: the model, its bytes checked against its weights root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLoaded {
    /// The weights root.
    pub weights_hash: Root,
    /// Its registry name.
    pub name: String,
}

impl Payload for ModelLoaded {
    const KIND: &'static str = event::MODEL_LOADED;
}

/// `inference.completed`: how many rows ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceCompleted {
    /// Rows.
    pub rows: u64,
}

impl Payload for InferenceCompleted {
    const KIND: &'static str = event::INFERENCE_COMPLETED;
}

/// `llm.completed`: how a language model answered. The receipt's `context_hash` is
/// the root of the exact context text it was given (the retrieved passages, as
/// rendered); `completion_hash` is the root of the completion's UTF-8 bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmCompleted {
    /// Root of the completion text's UTF-8 bytes (absent when it is empty: an empty
    /// byte string has no content root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_hash: Option<Root>,
    /// `greedy` or `top_p`.
    pub decoding: String,
    /// Sampling temperature (absent when greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus mass (absent when greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The sampler's seed (absent when greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The new-token limit.
    pub max_tokens: u64,
    /// Stop strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Passages of the token's documents in the context.
    pub context_passages: u64,
    /// Tokens of the prompt (context included).
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// `stop` or `length`.
    pub finish_reason: String,
}

impl Payload for LlmCompleted {
    const KIND: &'static str = event::LLM_COMPLETED;
}

/// `response.returned`: the root of the body that left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseReturned {
    /// Root of the JCS bytes of the output.
    pub body_hash: Root,
}

impl Payload for ResponseReturned {
    const KIND: &'static str = event::RESPONSE_RETURNED;
}

/// `fhe.evaluated`: what was evaluated on which ciphertexts. The receipt's
/// `input_hash` is the root of the query's bytes, so a client that kept its query
/// and decrypted the answer can check both against the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FheEvaluated {
    /// The scheme (`bfv`).
    pub scheme: String,
    /// SHA-256 of the parameter set, hex.
    pub params_hash: String,
    /// Root of the evaluation keys' bytes; absent when the model needs none (a
    /// linear model is evaluated with plaintext–ciphertext products only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_key_hash: Option<Root>,
    /// Root of the query's bytes (the same as the receipt's `input_hash`).
    pub query_hash: Root,
    /// Root of the answer's bytes.
    pub answer_hash: Root,
    /// Rows evaluated.
    pub rows: u64,
}

impl Payload for FheEvaluated {
    const KIND: &'static str = event::FHE_EVALUATED;
}

/// `fl.round`: one federated round as its aggregator ran it. The receipt's
/// `input_hash` is the root of the owner's signed start (JCS), its `model_hash` the
/// model the round started from, and its `output_hash` the new global model's root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlRound {
    /// The federation id.
    pub federation: String,
    /// The round.
    pub round: u64,
    /// The owner's Ed25519 key, hex (the federation id is derived from it).
    pub owner: String,
    /// Root of the model the round started from.
    pub previous_root: Root,
    /// Root of the new global model.
    pub global_root: Root,
    /// Clients whose updates are in the aggregate.
    pub survivors: Vec<u32>,
    /// Clients that shared keys and then dropped (their masks removed through
    /// their reconstructed keys).
    pub dropped: Vec<u32>,
    /// Per survivor (decimal id), the root of its masked update's bytes
    /// (little-endian 32-bit words): each client checks its own.
    pub update_roots: std::collections::BTreeMap<String, Root>,
    /// The survivors' total weight, in units of the round's largest weight.
    pub total_weight: f64,
    /// Root of the new global model sealed to the federation's model key, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_root: Option<Root>,
}

impl Payload for FlRound {
    const KIND: &'static str = event::FL_ROUND;
}

/// `train.completed`: a model trained inside on a token's data. The receipt's
/// `context_hash` is the dataset's root, its `model_hash` the training spec's and its
/// `input_hash` the signed order's; the trained model is known by its root only, and
/// reaches its requester sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainCompleted {
    /// Root of the sealed data set trained on.
    pub dataset: Root,
    /// Root of the training spec's JCS bytes.
    pub spec: Root,
    /// Root of the trained model's JCS bytes (the job's result on chain).
    pub model: Root,
    /// Root of the model sealed to the requester, as stored.
    pub sealed: Root,
    /// Rows trained on.
    pub rows: u64,
    /// Features per row.
    pub features: u32,
    /// Full-batch epochs run.
    pub epochs: u32,
}

impl Payload for TrainCompleted {
    const KIND: &'static str = event::TRAIN_COMPLETED;
}

/// `market.charged`: what a serving-marketplace chat costs its user, at the prices the
/// provider listed on chain (amounts in wei, as decimal strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketCharged {
    /// The provider paid.
    pub provider: String,
    /// The chat's id (the OpenAI completion id the user saw).
    pub chat_id: String,
    /// Wei per prompt token.
    pub input_price: String,
    /// Wei per completion token.
    pub output_price: String,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// input_price × prompt_tokens + output_price × completion_tokens.
    pub fee: String,
}

impl Payload for MarketCharged {
    const KIND: &'static str = event::MARKET_CHARGED;
}

/// `zk.proof`: which circuit and key, and the public inputs proved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZkProof {
    /// The circuit's id.
    pub circuit: String,
    /// Root of the JCS bytes of the verifying key (snarkjs JSON).
    pub vk_hash: Root,
    /// The public inputs (snarkjs JSON: decimal strings).
    pub public: Value,
    /// Circuit-specific detail (e.g. the model's commitment mode).
    #[serde(flatten)]
    pub detail: Map<String, Value>,
}

impl Payload for ZkProof {
    const KIND: &'static str = event::ZK_PROOF;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at() -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(1_772_323_200).unwrap()
    }

    /// The typed events write byte for byte what `json!` wrote before them.
    #[test]
    fn typed_events_write_the_legacy_objects() {
        let root = Root([7; 32]);
        let cases = [
            (
                Event::of(at(), &RequestReceived::default()),
                Event::new(event::REQUEST_RECEIVED, at(), json!({})),
            ),
            (
                Event::of(
                    at(),
                    &RequestReceived {
                        signer: Some("0xab".into()),
                        nonce: Some("42".into()),
                        expiry: Some(9),
                        signature: Some("0x01".into()),
                        grant: None,
                    },
                ),
                Event::new(
                    event::REQUEST_RECEIVED,
                    at(),
                    json!({"signer": "0xab", "nonce": "42", "expiry": 9, "signature": "0x01"}),
                ),
            ),
            (
                Event::of(
                    at(),
                    &NftAuthorized {
                        chain_id: 1,
                        contract: "0xc".into(),
                        token: "7".into(),
                        user: "0xu".into(),
                        block: None,
                    },
                ),
                Event::new(
                    event::NFT_AUTHORIZED,
                    at(),
                    json!({"chain_id": 1, "contract": "0xc", "token": "7", "user": "0xu", "block": null}),
                ),
            ),
            (
                Event::of(at(), &DataLoaded { root, bytes: 5 }),
                Event::new(event::DATA_LOADED, at(), json!({"root": root, "bytes": 5})),
            ),
            (
                Event::of(
                    at(),
                    &ZkProof {
                        circuit: "c".into(),
                        vk_hash: root,
                        public: json!(["1"]),
                        detail: json!({"weights": "private"}).as_object().unwrap().clone(),
                    },
                ),
                Event::new(
                    event::ZK_PROOF,
                    at(),
                    json!({"circuit": "c", "vk_hash": root, "public": ["1"], "weights": "private"}),
                ),
            ),
        ];
        for (typed, legacy) in cases {
            assert_eq!(serde_json::to_string(&typed).unwrap(), serde_json::to_string(&legacy).unwrap());
        }
    }

    #[test]
    fn payloads_read_back_only_from_their_own_type() {
        let e = Event::of(at(), &ResponseReturned { body_hash: Root([1; 32]) });
        assert_eq!(e.payload::<ResponseReturned>().unwrap().unwrap().body_hash, Root([1; 32]));
        assert!(e.payload::<DataLoaded>().is_none());
        let mut bent = e.clone();
        bent.data.insert("body_hash".into(), json!("0xnot-a-root"));
        assert!(bent.payload::<ResponseReturned>().unwrap().is_err());
        // A newer writer's extra field does not stop a reader.
        let mut extra = e;
        extra.data.insert("added_later".into(), json!(1));
        assert!(extra.payload::<ResponseReturned>().unwrap().is_ok());
    }
}
