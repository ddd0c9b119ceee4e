//! Signing and offline verification.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ReceiptError;
use crate::body::{Receipt, Signer, event};

pub(crate) const VERSION: &str = "veil.receipt/v1";
/// Prefix of every signed message, so a receipt signature is never valid elsewhere.
pub const SIGNATURE_DOMAIN: &[u8] = b"veil/receipt/v1\0";

/// SHA-256 of a body's canonical bytes, written `sha256:` and 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiptId(pub [u8; 32]);

impl ReceiptId {
    /// The id of a canonical body.
    pub fn of_canonical(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    fn message(&self) -> Vec<u8> {
        [SIGNATURE_DOMAIN, &self.0].concat()
    }
}

impl fmt::Display for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for ReceiptId {
    type Err = ReceiptError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ReceiptError::Malformed(format!(
                "id {:?} is not sha256: and 64 hex digits",
                s.chars().take(80).collect::<String>()
            ))
        };
        let digits = s.strip_prefix("sha256:").ok_or_else(bad)?;
        if digits.len() != 64 || !digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| bad())?;
        Ok(Self(out))
    }
}

/// The signature block outside the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// Always `ed25519`.
    pub alg: String,
    /// 128 hex digits.
    pub value: String,
}

/// A receipt as written to disk or returned over HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// The signed body.
    pub receipt: Receipt,
    /// Its id.
    pub id: String,
    /// The Ed25519 signature over the domain tag and the id.
    pub signature: SignatureBlock,
}

impl SignedReceipt {
    /// Pretty JSON for files and terminals (the id does not depend on formatting).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Sign `body` with `key`, setting the body's signer to that key.
pub fn sign(mut body: Receipt, key: &SigningKey) -> Result<SignedReceipt, ReceiptError> {
    body.signer = Signer { alg: "ed25519".into(), public_key: hex::encode(key.verifying_key().as_bytes()) };
    let canonical = veil_jcs::to_canonical_vec(&body).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    let id = ReceiptId::of_canonical(&canonical);
    let sig = key.sign(&id.message());
    Ok(SignedReceipt {
        receipt: body,
        id: id.to_string(),
        signature: SignatureBlock { alg: "ed25519".into(), value: hex::encode(sig.to_bytes()) },
    })
}

/// A receipt that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its id.
    pub id: ReceiptId,
    /// Its body.
    pub receipt: Receipt,
    /// The key whose signature verified.
    pub signer: VerifyingKey,
}

impl Verified {
    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "valid receipt {} mode={} signer=ed25519:{} events={} created_at={}{}",
            self.id,
            self.receipt.mode,
            hex::encode(self.signer.as_bytes()),
            self.receipt.events.len(),
            self.receipt.created_at,
            if self.receipt.dev_root { " dev_root=true" } else { "" },
        )
    }
}

/// Check a receipt file's bytes: strict JSON, id, body shape, event log, signature.
pub fn verify(bytes: &[u8]) -> Result<Verified, ReceiptError> {
    let doc = veil_jcs::parse_strict(bytes).map_err(|e| ReceiptError::Json(e.to_string()))?;
    let Value::Object(mut top) = doc else {
        return Err(ReceiptError::Malformed("top level is not an object".into()));
    };
    if let Some(extra) = top.keys().find(|k| !matches!(k.as_str(), "receipt" | "id" | "signature")) {
        return Err(ReceiptError::Malformed(format!("unknown top-level field {extra:?}")));
    }
    let body_value =
        top.remove("receipt").ok_or_else(|| ReceiptError::Malformed("missing \"receipt\"".into()))?;
    let stated: String = field(&mut top, "id")?;
    let signature: SignatureBlock = field(&mut top, "signature")?;

    // The id covers the body exactly as received, fields unknown to this build included.
    let canonical =
        veil_jcs::canonicalize(&body_value).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    let computed = ReceiptId::of_canonical(canonical.as_bytes());
    let stated_id: ReceiptId = stated.parse()?;
    if stated_id != computed {
        return Err(ReceiptError::IdMismatch { stated, computed: computed.to_string() });
    }

    if let Some(v) = body_value.get("version").and_then(Value::as_str).filter(|v| *v != VERSION) {
        return Err(ReceiptError::UnsupportedVersion(v.to_owned()));
    }
    let receipt: Receipt =
        serde_json::from_value(body_value).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    let created_at = parse_time(&receipt.created_at, "created_at")?;
    check_events(&receipt, created_at)?;

    if receipt.signer.alg != "ed25519" || signature.alg != "ed25519" {
        return Err(ReceiptError::Malformed("only ed25519 signatures are defined in version 1".into()));
    }
    let key_bytes: [u8; 32] = hex_array(&receipt.signer.public_key, "signer.public_key")?;
    let signer = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| ReceiptError::Malformed("signer.public_key is not an Ed25519 point".into()))?;
    let sig = Signature::from_bytes(&hex_array::<64>(&signature.value, "signature.value")?);
    signer
        .verify_strict(&computed.message(), &sig)
        .map_err(|_| ReceiptError::BadSignature(receipt.signer.public_key.clone()))?;
    Ok(Verified { id: computed, receipt, signer })
}

fn field<T: serde::de::DeserializeOwned>(
    top: &mut serde_json::Map<String, Value>,
    name: &str,
) -> Result<T, ReceiptError> {
    let v = top.remove(name).ok_or_else(|| ReceiptError::Malformed(format!("missing {name:?}")))?;
    serde_json::from_value(v).map_err(|e| ReceiptError::Malformed(format!("{name}: {e}")))
}

fn hex_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N], ReceiptError> {
    let mut out = [0u8; N];
    if s.len() != 2 * N || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReceiptError::Malformed(format!("{what} must be {} lowercase hex digits", 2 * N)));
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| ReceiptError::Malformed(format!("{what} is not hex")))?;
    Ok(out)
}

fn parse_time(s: &str, what: &str) -> Result<OffsetDateTime, ReceiptError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| ReceiptError::Malformed(format!("{what} {s:?} is not an RFC 3339 time")))
}

/// Data fields that must hold 0G roots, per known event type.
fn root_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        event::DATA_LOADED => &["root"],
        event::MODEL_LOADED => &["weights_hash"],
        event::RESPONSE_RETURNED => &["body_hash"],
        _ => &[],
    }
}

fn check_events(receipt: &Receipt, created_at: OffsetDateTime) -> Result<(), ReceiptError> {
    let mut previous: Option<OffsetDateTime> = None;
    for (index, ev) in receipt.events.iter().enumerate() {
        let bad = |reason: String| ReceiptError::BadEvent { index, reason };
        if ev.kind.is_empty() {
            return Err(bad("empty event type".into()));
        }
        let at = OffsetDateTime::parse(&ev.at, &Rfc3339)
            .map_err(|_| bad(format!("time {:?} is not RFC 3339", ev.at)))?;
        if previous.is_some_and(|p| at < p) {
            return Err(bad("events are out of order".into()));
        }
        if at > created_at {
            return Err(bad("event is later than the receipt".into()));
        }
        previous = Some(at);
        for name in root_fields(&ev.kind) {
            let v = ev
                .data
                .get(*name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("{} needs {name}", ev.kind)))?;
            v.parse::<veil_content::Root>().map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(())
}
