//! What a leaf holds, and C2SP entry bundles (each entry prefixed with its
//! big-endian 16-bit length, up to 256 entries per bundle).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veil_protocol::{LogEntry, MAX_ENTRY_BYTES};

use crate::TlogError;

/// The canonical bytes of an entry (RFC 8785), which are what the leaf hashes.
pub fn encode_entry(entry: &LogEntry) -> Result<Vec<u8>, TlogError> {
    let bytes = veil_jcs::to_canonical_vec(entry).map_err(|e| TlogError::EntryMalformed(e.to_string()))?;
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(TlogError::EntryTooLarge { len: bytes.len(), max: MAX_ENTRY_BYTES });
    }
    Ok(bytes)
}

/// Decode a leaf, refusing anything but an entry's one canonical encoding.
pub fn decode_entry(bytes: &[u8]) -> Result<LogEntry, TlogError> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(TlogError::EntryTooLarge { len: bytes.len(), max: MAX_ENTRY_BYTES });
    }
    let entry: LogEntry =
        serde_json::from_slice(bytes).map_err(|e| TlogError::EntryMalformed(e.to_string()))?;
    if encode_entry(&entry)? != bytes {
        return Err(TlogError::EntryMalformed("not in canonical form (RFC 8785)".into()));
    }
    Ok(entry)
}

/// How far from the log's clock a receipt's own time may be.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// The oldest receipt taken, in seconds before now: this bounds how far a
    /// receipt can be backdated by whoever holds an enclave key.
    pub max_age_secs: u64,
    /// How far ahead of the log's clock a receipt may claim to be (clock skew).
    pub max_skew_secs: u64,
}

impl Default for Admission {
    fn default() -> Self {
        Self { max_age_secs: 300, max_skew_secs: 60 }
    }
}

/// The entry for a receipt the log is handed: the receipt must verify (id and
/// signature) and its time must be within `admission` of `now`.
pub fn receipt_entry(receipt: &[u8], now: u64, admission: Admission) -> Result<LogEntry, TlogError> {
    let (entry, at) = receipt_leaf(receipt)?;
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    let age = i128::from(now_i) - i128::from(at);
    if age > i128::from(admission.max_age_secs) {
        return Err(TlogError::EntryTime { created_at: at, now, why: "older than the log admits" });
    }
    if -age > i128::from(admission.max_skew_secs) {
        return Err(TlogError::EntryTime { created_at: at, now, why: "ahead of the log's clock" });
    }
    Ok(entry)
}

/// The entry a receipt is logged as, and the receipt's time (unix seconds): what a
/// verifier recomputes to check the receipt's inclusion. The receipt must verify.
pub fn receipt_leaf(receipt: &[u8]) -> Result<(LogEntry, i64), TlogError> {
    let verified = veil_receipt::verify(receipt).map_err(|e| TlogError::EntryMalformed(e.to_string()))?;
    let r = &verified.receipt;
    let at = OffsetDateTime::parse(&r.created_at, &Rfc3339)
        .map_err(|_| TlogError::EntryMalformed(format!("created_at {:?} is not RFC 3339", r.created_at)))?
        .unix_timestamp();
    let entry = LogEntry::Receipt {
        id: verified.id.to_string(),
        mode: r.mode.to_string(),
        model: r.model_hash,
        signer: r.signer.public_key.clone(),
        created_at: r.created_at.clone(),
    };
    Ok((entry, at))
}

/// Append one entry to a bundle.
pub fn bundle_push(bundle: &mut Vec<u8>, leaf: &[u8]) -> Result<(), TlogError> {
    let len = u16::try_from(leaf.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_ENTRY_BYTES)
        .ok_or(TlogError::EntryTooLarge { len: leaf.len(), max: MAX_ENTRY_BYTES })?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(leaf);
    Ok(())
}

/// Split a bundle into its entries; refuses a truncated bundle or one with more
/// than 256 entries.
pub fn bundle_entries(bundle: &[u8]) -> Result<Vec<&[u8]>, TlogError> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let [a, b, tail @ ..] = rest else {
            return Err(TlogError::Corrupt("an entry bundle ends inside a length".into()));
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if tail.len() < len {
            return Err(TlogError::Corrupt("an entry bundle ends inside an entry".into()));
        }
        let (entry, next) = tail.split_at(len);
        out.push(entry);
        rest = next;
        if out.len() as u64 > crate::TILE_WIDTH {
            return Err(TlogError::Corrupt("an entry bundle holds more than 256 entries".into()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bundles_round_trip(leaves in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let mut b = Vec::new();
            for l in &leaves {
                bundle_push(&mut b, l).unwrap();
            }
            let back = bundle_entries(&b).unwrap();
            prop_assert_eq!(back, leaves.iter().map(|l| l.as_slice()).collect::<Vec<_>>());
            if !b.is_empty() {
                prop_assert!(bundle_entries(&b[..b.len() - 1]).is_err());
            }
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_entry(&bytes);
            let _ = bundle_entries(&bytes);
        }
    }

    #[test]
    fn an_entry_decodes_only_from_its_canonical_bytes() {
        let e = LogEntry::Receipt {
            id: "sha256:00".into(),
            mode: "tee".into(),
            model: None,
            signer: "ab".into(),
            created_at: "2026-12-04T00:00:00Z".into(),
        };
        let bytes = encode_entry(&e).unwrap();
        assert_eq!(decode_entry(&bytes).unwrap(), e);
        let spaced = String::from_utf8(bytes).unwrap().replacen(',', ", ", 1);
        assert!(matches!(decode_entry(spaced.as_bytes()), Err(TlogError::EntryMalformed(_))));
        assert!(matches!(
            bundle_push(&mut Vec::new(), &[0; MAX_ENTRY_BYTES + 1]),
            Err(TlogError::EntryTooLarge { .. })
        ));
    }
}
