//! Evidence as people find it: a JSON envelope, or a raw Intel DCAP quote or AMD
//! SEV-SNP report, as bytes or as hex text. Telling them apart by their headers lets
//! one command take any of them.

use crate::{AttestationError, Evidence};

/// What a file of evidence turned out to hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A Veil evidence envelope (it carries its own collateral).
    Envelope(Box<Evidence>),
    /// An Intel DCAP quote (SGX or TDX, version 3 to 5).
    IntelQuote(Vec<u8>),
    /// An AMD SEV-SNP attestation report (version 2 to 5).
    SnpReport(Vec<u8>),
}

fn looks_like_snp_report(b: &[u8]) -> bool {
    b.len() == 1184 && matches!(u32::from_le_bytes([b[0], b[1], b[2], b[3]]), 2..=5)
}

fn looks_like_intel_quote(b: &[u8]) -> bool {
    b.len() >= 48
        && matches!(u16::from_le_bytes([b[0], b[1]]), 3..=5)
        && u16::from_le_bytes([b[2], b[3]]) == 2
        && matches!(u32::from_le_bytes([b[4], b[5], b[6], b[7]]), 0 | 0x81)
}

/// Tell what `bytes` hold; anything else is a parse refusal.
pub fn classify(bytes: Vec<u8>) -> Result<Found, AttestationError> {
    if bytes.trim_ascii_start().starts_with(b"{") {
        let e = serde_json::from_slice(&bytes)
            .map_err(|e| AttestationError::Parse(format!("evidence envelope: {e}")))?;
        return Ok(Found::Envelope(Box::new(e)));
    }
    // Evidence is often shipped as hex text.
    let decoded =
        std::str::from_utf8(&bytes).ok().and_then(|t| hex::decode(t.trim().trim_start_matches("0x")).ok());
    for b in [Some(bytes), decoded].into_iter().flatten() {
        if looks_like_intel_quote(&b) {
            return Ok(Found::IntelQuote(b));
        }
        if looks_like_snp_report(&b) {
            return Ok(Found::SnpReport(b));
        }
    }
    Err(AttestationError::Parse(
        "unrecognised evidence: neither an Intel DCAP quote nor an AMD SEV-SNP report (raw or hex)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_decide_and_anything_else_is_refused() {
        let mut quote = vec![0u8; 64];
        quote[..2].copy_from_slice(&4u16.to_le_bytes());
        quote[2..4].copy_from_slice(&2u16.to_le_bytes());
        quote[4..8].copy_from_slice(&0x81u32.to_le_bytes());
        assert!(matches!(classify(quote.clone()), Ok(Found::IntelQuote(_))));
        assert!(matches!(classify(hex::encode(&quote).into_bytes()), Ok(Found::IntelQuote(q)) if q == quote));
        let mut report = vec![0u8; 1184];
        report[..4].copy_from_slice(&3u32.to_le_bytes());
        assert!(matches!(classify(report), Ok(Found::SnpReport(_))));
        for bad in [b"".to_vec(), b"{".to_vec(), vec![0u8; 1184], b"hello".to_vec()] {
            assert!(matches!(classify(bad), Err(AttestationError::Parse(_))));
        }
    }
}
