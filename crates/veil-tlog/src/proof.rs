//! Checking inclusion and consistency proofs (RFC 9162 §2.1.3–2.1.4), with every
//! precondition of the ported tree math checked first so no proof from outside can
//! reach one of its assertions.

use tlog_tiles::Hash;
use veil_protocol::{Inclusion, LogEntry, MAX_PROOF_HASHES};

use crate::{Checkpoint, LogHash, LogVerifier, TlogError, decode_entry};

/// The RFC 6962 leaf hash, `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> LogHash {
    LogHash(tlog_tiles::record_hash(data).0)
}

fn hashes(p: &[LogHash]) -> Result<Vec<Hash>, TlogError> {
    if p.len() > MAX_PROOF_HASHES {
        return Err(TlogError::BadProof(format!("{} hashes is more than any tree needs", p.len())));
    }
    Ok(p.iter().map(|h| Hash(h.0)).collect())
}

/// Check that `leaf` is entry `index` of the tree of `size` leaves with `root`.
pub fn verify_inclusion(
    leaf: LogHash,
    index: u64,
    size: u64,
    root: LogHash,
    proof: &[LogHash],
) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::BeyondTree { what: "index", asked: index, size });
    }
    tlog_tiles::check_record(&hashes(proof)?, size, Hash(root.0), index, Hash(leaf.0))
        .map_err(|e| TlogError::BadProof(format!("entry {index} in a tree of {size}: {e}")))
}

/// Check that the tree of `new_size` with `new_root` extends the tree of
/// `old_size` with `old_root`.
pub fn verify_consistency(
    old_size: u64,
    old_root: LogHash,
    new_size: u64,
    new_root: LogHash,
    proof: &[LogHash],
) -> Result<(), TlogError> {
    if old_size > new_size {
        return Err(TlogError::StaleCheckpoint { seen: old_size, given: new_size });
    }
    let p = hashes(proof)?;
    let ok = match (old_size, old_size == new_size) {
        // Every tree extends the empty one.
        (0, _) => p.is_empty(),
        (_, true) => p.is_empty() && old_root == new_root,
        _ => tlog_tiles::check_tree(&p, new_size, Hash(new_root.0), old_size, Hash(old_root.0)).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(TlogError::Inconsistent(format!(
            "the tree of {new_size} does not extend the tree of {old_size} by this proof"
        )))
    }
}

/// Check an [`Inclusion`] the log handed out: the checkpoint is signed by `log`, and
/// `entry_bytes` is its entry `index`. Returns the checkpoint and the entry.
pub fn check_inclusion(
    inclusion: &Inclusion,
    entry_bytes: &[u8],
    log: &LogVerifier,
) -> Result<(Checkpoint, LogEntry), TlogError> {
    let cp = Checkpoint::open(inclusion.checkpoint.as_bytes(), log)?;
    let entry = decode_entry(entry_bytes)?;
    verify_inclusion(leaf_hash(entry_bytes), inclusion.index, cp.size, cp.root, &inclusion.proof)?;
    Ok((cp, entry))
}

/// Check that checkpoint `new` extends checkpoint `old` (both signed by `log`).
pub fn check_consistency(
    old: &[u8],
    new: &[u8],
    proof: &[LogHash],
    log: &LogVerifier,
) -> Result<(Checkpoint, Checkpoint), TlogError> {
    let (old, new) = (Checkpoint::open(old, log)?, Checkpoint::open(new, log)?);
    verify_consistency(old.size, old.root, new.size, new.root, proof)?;
    Ok((old, new))
}
