//! The signed body of a receipt.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use veil_content::Root;

/// Well-known event types (SYSTEM.md section 1). Verifiers ignore others.
pub mod event {
    /// The request arrived.
    pub const REQUEST_RECEIVED: &str = "request.received";
    /// The ledger said the user may use the token.
    pub const NFT_AUTHORIZED: &str = "nft.authorized";
    /// Sealed data was fetched and checked against its root.
    pub const DATA_LOADED: &str = "data.loaded";
    /// Model weights were fetched and checked against their hash.
    pub const MODEL_LOADED: &str = "model.loaded";
    /// The key broker released a data key.
    pub const KEY_RELEASED: &str = "key.released";
    /// Inference ran.
    pub const INFERENCE_COMPLETED: &str = "inference.completed";
    /// A language model answered from retrieved passages.
    pub const LLM_COMPLETED: &str = "llm.completed";
    /// A zero-knowledge proof was produced.
    pub const ZK_PROOF: &str = "zk.proof";
    /// An FHE evaluation ran.
    pub const FHE_EVALUATED: &str = "fhe.evaluated";
    /// A federated-learning round closed.
    pub const FL_ROUND: &str = "fl.round";
    /// A model was trained on a token's data and sealed to its requester.
    pub const TRAIN_COMPLETED: &str = "train.completed";
    /// A serving-marketplace chat was priced for its user.
    pub const MARKET_CHARGED: &str = "market.charged";
    /// The response left.
    pub const RESPONSE_RETURNED: &str = "response.returned";
}

/// Which privacy mechanism vouches for the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Ran in an attested enclave.
    Tee,
    /// Carries a zero-knowledge proof.
    Zk,
    /// Evaluated on encrypted inputs.
    Fhe,
    /// A federated-learning round.
    Fl,
    /// A model trained in an attested enclave on a token's data.
    Train,
    /// Only the signer's word.
    Plain,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tee => "tee",
            Self::Zk => "zk",
            Self::Fhe => "fhe",
            Self::Fl => "fl",
            Self::Train => "train",
            Self::Plain => "plain",
        })
    }
}

/// The key that signs the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    /// Always `ed25519` in version 1.
    pub alg: String,
    /// The Ed25519 public key, 64 lowercase hex digits.
    pub public_key: String,
}

/// One entry of the ordered event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Event type, e.g. `data.loaded`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// Type-specific fields.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
}

impl Event {
    /// An event of `kind` at `at` with `data` (which must be a JSON object or null).
    pub fn new(kind: &str, at: time::OffsetDateTime, data: Value) -> Self {
        let data = match data {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Self { kind: kind.to_owned(), at: rfc3339(at), data }
    }
}

/// The signed content of a receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Format version: `veil.receipt/v1`.
    pub version: String,
    /// What vouches for the result.
    pub mode: Mode,
    /// For whom the job ran (wallet address or public key), if anyone.
    pub subject: Option<String>,
    /// 0G root of the model weights.
    pub model_hash: Option<Root>,
    /// 0G root of the input bytes.
    pub input_hash: Root,
    /// 0G root of the context (e.g. the token's sealed data), if any.
    pub context_hash: Option<Root>,
    /// 0G root of the output bytes.
    pub output_hash: Root,
    /// The policy that allowed the job.
    pub policy_id: Option<String>,
    /// Payment reference (job id, settlement nonce), if paid.
    pub payment_ref: Option<String>,
    /// When the receipt was made (RFC 3339, UTC).
    pub created_at: String,
    /// The ordered event log.
    pub events: Vec<Event>,
    /// Attestation evidence, proofs or transcripts, by mode.
    pub evidence: Option<Value>,
    /// True when the evidence chains to a development root, never to a vendor's.
    pub dev_root: bool,
    /// Who signs.
    pub signer: Signer,
}

/// Format a time as RFC 3339 UTC with second precision, the one spelling receipts use.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

impl Receipt {
    /// A version-1 body with no events; `sign` fills in the signer.
    pub fn new(mode: Mode, input_hash: Root, output_hash: Root, created_at: time::OffsetDateTime) -> Self {
        Self {
            version: crate::verify::VERSION.to_owned(),
            mode,
            subject: None,
            model_hash: None,
            input_hash,
            context_hash: None,
            output_hash,
            policy_id: None,
            payment_ref: None,
            created_at: rfc3339(created_at),
            events: Vec::new(),
            evidence: None,
            dev_root: false,
            signer: Signer { alg: String::new(), public_key: String::new() },
        }
    }
}
