//! The transparency log's wire types: what a leaf holds, and the proofs and
//! checkpoints a submitter, a verifier and a witness exchange.
//!
//! A leaf is the RFC 8785 canonical JSON of a [`LogEntry`]; hashes travel as
//! standard base64, the encoding checkpoints use (C2SP tlog-checkpoint).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use veil_content::Root;

/// The most hashes any proof in a tree of at most 2⁶⁴ leaves can hold.
pub const MAX_PROOF_HASHES: usize = 64;

/// The largest leaf the log accepts, in bytes (an entry bundle prefixes each
/// leaf with a 16-bit length; Veil's entries are small JSON objects).
pub const MAX_ENTRY_BYTES: usize = 4096;

/// One leaf of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LogEntry {
    /// A receipt, by id, with what a monitor may show without the receipt: no
    /// subject, no input or output hashes (the id commits to all of them).
    Receipt {
        /// The receipt's id, `sha256:` and 64 hex digits.
        id: String,
        /// Its privacy mode (`tee`, `zk`, `fhe`, `fl`, `plain`).
        mode: String,
        /// The weights root of the model that ran, if any.
        model: Option<Root>,
        /// The Ed25519 key that signed it, 64 hex digits.
        signer: String,
        /// When the receipt says it was made (RFC 3339, UTC).
        created_at: String,
    },
    /// A model registered for workers to serve, by weights root.
    Model {
        /// Its registered name.
        name: String,
        /// The root of its weights (what receipts name).
        weights_root: Root,
        /// Its registry format (`onnx`, `gguf`, `int8`).
        format: String,
        /// The root of the sealed blob, when the model is kept sealed at rest.
        sealed: Option<Root>,
    },
    /// A key-release policy the broker is about to enforce: logged before it takes
    /// effect, so a measurement admitted or a resource granted is public first.
    Policy {
        /// The 0G root of the policy file's bytes.
        policy_root: Root,
        /// The measurements it admits.
        measurements: Vec<String>,
        /// The resources it grants them.
        resources: Vec<String>,
    },
    /// The head of the broker's audit log when it started: a later copy of the audit
    /// log that ends before this head has lost entries.
    AuditHead {
        /// Entries.
        len: u64,
        /// The last entry's hash (hex).
        hash: String,
    },
}

/// A SHA-256 node of the log's tree, base64 on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogHash(pub [u8; 32]);

impl std::fmt::Display for LogHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl std::str::FromStr for LogHash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // 44 characters is exactly one padded 32-byte value: refuse before decoding.
        if s.len() != 44 {
            return Err(format!("a log hash is 44 base64 characters, not {}", s.len()));
        }
        let bytes = STANDARD.decode(s).map_err(|e| format!("a log hash is not base64: {e}"))?;
        Ok(Self(bytes.try_into().map_err(|_| "a log hash is 32 bytes".to_owned())?))
    }
}

impl Serialize for LogHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for LogHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What the log answers a submission with, once the entry is durable: where the
/// entry sits, a signed checkpoint of a tree that holds it, and the inclusion proof
/// from the entry to that checkpoint's root. Self-contained: `veil verify
/// --inclusion` needs only this and the log's public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inclusion {
    /// The entry's index (0-based).
    pub index: u64,
    /// The signed checkpoint (a C2SP signed note), verbatim.
    pub checkpoint: String,
    /// The audit path, leaf to root (RFC 9162 §2.1.3).
    pub proof: Vec<LogHash>,
}

/// An inclusion proof for an index in a tree of a given size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The entry's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The audit path.
    pub proof: Vec<LogHash>,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The smaller tree.
    pub old_size: u64,
    /// The larger tree.
    pub new_size: u64,
    /// The proof (RFC 9162 §2.1.4).
    pub proof: Vec<LogHash>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_hash_is_exactly_32_bytes_of_padded_base64() {
        let h = LogHash([7; 32]);
        let text = h.to_string();
        assert_eq!(text.parse::<LogHash>(), Ok(h));
        assert!(text[..43].parse::<LogHash>().is_err());
        assert!(format!("{text}=").parse::<LogHash>().is_err());
        assert!(STANDARD.encode([1u8; 33])[..44].parse::<LogHash>().is_err());
    }

    #[test]
    fn an_entry_names_its_type_and_refuses_strangers() {
        let e: LogEntry = serde_json::from_str(
            r#"{"type":"receipt","id":"sha256:00","mode":"tee","model":null,"signer":"ab","created_at":"t"}"#,
        )
        .unwrap();
        assert!(matches!(e, LogEntry::Receipt { .. }));
        assert!(
            serde_json::from_str::<LogEntry>(
                r#"{"type":"receipt","id":"x","mode":"tee","model":null,"signer":"ab","created_at":"t","subject":"me"}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<LogEntry>(r#"{"type":"other"}"#).is_err());
    }
}
