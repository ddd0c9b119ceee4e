//! A witness (C2SP tlog-witness, cosignatures as C2SP tlog-cosignature
//! `cosignature/v1`): it cosigns a log's checkpoint only after checking that it is
//! signed by the log and consistent with the last checkpoint it cosigned for that
//! log, and it records the new one durably before answering. So no two checkpoints
//! it cosigned show different histories, even across a crash, and a log that forks
//! is refused — the fork is visible to anyone who asks the witness.
//!
//! The request body is `old <size>\n`, the consistency proof from that size (one
//! base64 hash per line), a blank line, and the signed checkpoint. The answer is
//! the cosignature line. A request whose `old` is not the size the witness holds
//! is a conflict that names the size it holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::{Checkpoint, LogHash, LogVerifier, TlogError, verify_consistency};

/// The cosignature algorithm byte (C2SP tlog-cosignature).
const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Why a witness refused.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The request does not parse.
    #[error("malformed add-checkpoint request: {0}")]
    Malformed(String),
    /// The checkpoint's origin is not a log this witness follows.
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    /// The checkpoint is not signed by the log's key.
    #[error("checkpoint not signed by the log: {0}")]
    BadSignature(TlogError),
    /// The request's old size is not the size the witness holds.
    #[error("the witness holds size {held}, not {claimed}")]
    Conflict {
        /// The size the witness holds.
        held: u64,
        /// The size the request claims.
        claimed: u64,
    },
    /// The checkpoint does not extend the one the witness holds: a fork.
    #[error("inconsistent with the checkpoint the witness holds: {0}")]
    Inconsistent(TlogError),
    /// The witness could not record its state; it did not cosign.
    #[error("witness state: {0}")]
    Io(#[from] std::io::Error),
}

/// What a witness holds per log: the last size and root it cosigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    size: u64,
    root: LogHash,
}

/// A witness over a set of logs.
pub struct Witness {
    name: String,
    key: SigningKey,
    key_id: [u8; 4],
    logs: BTreeMap<String, LogVerifier>,
    state_dir: PathBuf,
    held: Mutex<BTreeMap<String, Held>>,
}

fn cosignature_key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let h = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ALG_COSIGNATURE_V1])
        .chain_update(key.as_bytes())
        .finalize();
    [h[0], h[1], h[2], h[3]]
}

fn cosigned_message(checkpoint_text: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{checkpoint_text}").into_bytes()
}

impl Witness {
    /// A witness named `name` signing with `key`, following `logs`, keeping what it
    /// cosigned in `state_dir` (one file per log, replaced atomically).
    pub fn open(
        name: &str,
        key: SigningKey,
        logs: Vec<LogVerifier>,
        state_dir: &Path,
    ) -> Result<Self, WitnessError> {
        if name.is_empty() || name.chars().any(|c| c == '+' || c.is_whitespace()) {
            return Err(WitnessError::Malformed(format!("witness name {name:?}")));
        }
        std::fs::create_dir_all(state_dir)?;
        let mut held = BTreeMap::new();
        for log in &logs {
            let path = state_dir.join(state_file(log.name()));
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let (size, root) = text
                        .trim_end()
                        .split_once(' ')
                        .and_then(|(s, r)| Some((s.parse().ok()?, r.parse().ok()?)))
                        .ok_or_else(|| {
                            WitnessError::Malformed(format!("{} is not `size root`", path.display()))
                        })?;
                    held.insert(log.name().to_owned(), Held { size, root });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        let key_id = cosignature_key_id(name, &key.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
            logs: logs.into_iter().map(|l| (l.name().to_owned(), l)).collect(),
            state_dir: state_dir.to_owned(),
            held: Mutex::new(held),
        })
    }

    /// The witness's public key for verifiers: `<name>+<id>+<base64(0x04 ‖ key)>`.
    pub fn verifier_key(&self) -> String {
        let mut k = vec![ALG_COSIGNATURE_V1];
        k.extend_from_slice(self.key.verifying_key().as_bytes());
        format!("{}+{}+{}", self.name, hex_id(&self.key_id), STANDARD.encode(k))
    }

    /// The size the witness holds for `origin` (0 when it has cosigned nothing).
    pub fn held_size(&self, origin: &str) -> u64 {
        self.held.lock().map(|h| h.get(origin).map_or(0, |x| x.size)).unwrap_or(0)
    }

    /// Handle one add-checkpoint request at `now` (unix seconds); the cosignature line.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, WitnessError> {
        let text = std::str::from_utf8(body).map_err(|_| WitnessError::Malformed("not UTF-8".into()))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| WitnessError::Malformed("no blank line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        let old: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(|n| n.parse().ok().filter(|v: &u64| v.to_string() == n))
            .ok_or_else(|| WitnessError::Malformed("the first line is not `old <size>`".into()))?;
        let proof: Vec<LogHash> =
            lines.map(|l| l.parse::<LogHash>().map_err(WitnessError::Malformed)).collect::<Result<_, _>>()?;
        if proof.len() > veil_protocol::MAX_PROOF_HASHES {
            return Err(WitnessError::Malformed("too many proof lines".into()));
        }
        // The origin picks the log key; the note must then be signed by that key.
        let origin = note.split('\n').next().unwrap_or_default();
        let log = self
            .logs
            .get(origin)
            .ok_or_else(|| WitnessError::UnknownLog(origin.chars().take(100).collect()))?;
        let cp = Checkpoint::open(note.as_bytes(), log).map_err(WitnessError::BadSignature)?;

        let mut held = self.held.lock().map_err(|_| WitnessError::Io(std::io::Error::other("poisoned")))?;
        let prev =
            held.get(origin).copied().unwrap_or(Held { size: 0, root: LogHash(tlog_tiles::EMPTY_HASH.0) });
        if old != prev.size {
            return Err(WitnessError::Conflict { held: prev.size, claimed: old });
        }
        verify_consistency(prev.size, prev.root, cp.size, cp.root, &proof)
            .map_err(WitnessError::Inconsistent)?;
        // Durable before the cosignature leaves: a restarted witness never cosigns a
        // checkpoint inconsistent with one it already vouched for.
        if cp.size > prev.size {
            let line = format!("{} {}\n", cp.size, cp.root);
            veil_fs::write_atomic(self.state_dir.join(state_file(origin)), line.as_bytes())?;
            held.insert(origin.to_owned(), Held { size: cp.size, root: cp.root });
        }
        drop(held);
        let sig = self.key.sign(&cosigned_message(&cp.text(), now));
        let mut bytes = self.key_id.to_vec();
        bytes.extend_from_slice(&now.to_be_bytes());
        bytes.extend_from_slice(&sig.to_bytes());
        Ok(format!("— {} {}\n", self.name, STANDARD.encode(bytes)))
    }
}

fn hex_id(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A state file name for an origin: its hash, so any origin is a safe file name.
fn state_file(origin: &str) -> String {
    format!("{}.size", hex::encode(&Sha256::digest(origin.as_bytes())[..16]))
}

/// Check a witness's cosignature line on `checkpoint` by the witness key `vkey`
/// (`<name>+<id>+<base64(0x04 ‖ key)>`); the time the witness signed at.
pub fn verify_cosignature(checkpoint: &Checkpoint, line: &str, vkey: &str) -> Result<u64, TlogError> {
    let bad = |why: &str| TlogError::BadCheckpoint(format!("cosignature: {why}"));
    let mut parts = vkey.trim().splitn(3, '+');
    let (name, id, key) = match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(i), Some(k)) => (n, i, k),
        _ => return Err(bad("the witness key is not name+id+key")),
    };
    let key = STANDARD.decode(key).map_err(|_| bad("the witness key is not base64"))?;
    let (&alg, raw) = key.split_first().ok_or_else(|| bad("empty witness key"))?;
    let raw: [u8; 32] = raw.try_into().map_err(|_| bad("a witness key is 32 bytes"))?;
    let vk = VerifyingKey::from_bytes(&raw).map_err(|_| bad("not an Ed25519 key"))?;
    let key_id = cosignature_key_id(name, &vk);
    if alg != ALG_COSIGNATURE_V1 || hex_id(&key_id) != id {
        return Err(bad("the witness key's id does not match its name and key"));
    }
    let rest = line.trim_end().strip_prefix("— ").ok_or_else(|| bad("not a signature line"))?;
    let (line_name, b64) = rest.split_once(' ').ok_or_else(|| bad("not a signature line"))?;
    let sig = STANDARD.decode(b64).map_err(|_| bad("not base64"))?;
    if line_name != name || sig.len() != 4 + 8 + 64 || sig[..4] != key_id {
        return Err(bad("not by this witness"));
    }
    let time = u64::from_be_bytes(sig[4..12].try_into().map_err(|_| bad("short"))?);
    let s = ed25519_dalek::Signature::from_slice(&sig[12..]).map_err(|_| bad("bad signature encoding"))?;
    vk.verify(&cosigned_message(&checkpoint.text(), time), &s).map_err(|_| bad("does not verify"))?;
    Ok(time)
}
