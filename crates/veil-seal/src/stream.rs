//! Streaming seal and open, one segment in memory at a time.

use std::io::{Read, Write};

use veil_fs::read_full;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::format::{ENC_LEN, Header, MAX_RECIPIENTS, SALT_LEN, Stanza, TAG_LEN, WRAPPED_LEN};
use crate::identity::{Identity, Kem, PublicKey};
use crate::{DEFAULT_SEGMENT_LOG2, SealError};

type HpkeAead = hpke::aead::AesGcm256;
type HpkeKdf = hpke::kdf::HkdfSha256;

const WRAP_INFO: &[u8] = b"veil/seal/v1 data key";

/// What [`seal`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealSummary {
    /// Plaintext bytes read.
    pub plaintext_bytes: u64,
    /// Sealed bytes written (header included).
    pub sealed_bytes: u64,
    /// Segments written.
    pub segments: u64,
}

/// What [`open`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSummary {
    /// Plaintext bytes written.
    pub plaintext_bytes: u64,
    /// Segments authenticated.
    pub segments: u64,
}

struct Keys {
    payload: Aes256Gcm,
    mac_key: Zeroizing<[u8; 32]>,
}

fn derive_keys(data_key: &[u8; 32], salt: &[u8; SALT_LEN]) -> Keys {
    let hk = Hkdf::<Sha256>::new(Some(salt), data_key);
    let mut payload = Zeroizing::new([0u8; 32]);
    let mut mac_key = Zeroizing::new([0u8; 32]);
    hk.expand(b"veil/seal/v1 payload", payload.as_mut())
        .and_then(|()| hk.expand(b"veil/seal/v1 header", mac_key.as_mut()))
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Keys { payload: Aes256Gcm::new((&*payload).into()), mac_key }
}

fn header_mac(key: &[u8; 32]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

fn nonce(index: u64, last: bool) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = last as u8;
    n.into()
}

/// Seal everything `input` yields to `recipients`, with the default 64 KiB segments.
pub fn seal(
    input: impl Read,
    output: impl Write,
    recipients: &[PublicKey],
) -> Result<SealSummary, SealError> {
    seal_with_segment_size(input, output, recipients, DEFAULT_SEGMENT_LOG2)
}

/// Seal with segments of `2^segment_log2` plaintext bytes (12 to 24).
pub fn seal_with_segment_size(
    mut input: impl Read,
    mut output: impl Write,
    recipients: &[PublicKey],
    segment_log2: u8,
) -> Result<SealSummary, SealError> {
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(SealError::Recipients { got: recipients.len() });
    }
    if !(12..=24).contains(&segment_log2) {
        return Err(SealError::MalformedHeader("segment size out of range"));
    }
    let data_key = crate::random::<32>()?;
    let salt = *crate::random::<SALT_LEN>()?;
    let mut header =
        Header { segment_log2, salt, stanzas: Vec::with_capacity(recipients.len()), mac: [0u8; 32] };
    // The stanzas are bound to the prefix, which already counts them.
    header.stanzas.resize(recipients.len(), Stanza { enc: [0; ENC_LEN], wrapped: [0; WRAPPED_LEN] });
    let prefix = header.prefix();
    for (stanza, pk) in header.stanzas.iter_mut().zip(recipients) {
        let (enc, wrapped) = hpke::single_shot_seal::<HpkeAead, HpkeKdf, Kem>(
            &OpModeS::Base,
            &pk.to_hpke()?,
            WRAP_INFO,
            data_key.as_ref(),
            &prefix,
        )
        .map_err(|e| SealError::Hpke(e.to_string()))?;
        stanza.enc.copy_from_slice(&enc.to_bytes());
        stanza.wrapped.copy_from_slice(&wrapped);
    }
    let keys = derive_keys(&data_key, &salt);
    let mut mac = header_mac(&keys.mac_key);
    mac.update(&header.authenticated_bytes());
    header.mac.copy_from_slice(&mac.finalize().into_bytes());
    let header_bytes = header.to_bytes();
    output.write_all(&header_bytes).map_err(SealError::Write)?;
    let aad: [u8; 32] = Sha256::digest(&header_bytes).into();

    let seg = header.segment_size();
    // One extra byte tells whether more input follows, so the last segment is known
    // without a second read call per segment.
    let mut buf = Zeroizing::new(vec![0u8; seg + TAG_LEN]);
    let mut have = 0usize;
    let mut summary =
        SealSummary { plaintext_bytes: 0, sealed_bytes: header_bytes.len() as u64, segments: 0 };
    loop {
        have += read_full(&mut input, &mut buf[have..seg + 1]).map_err(SealError::Read)?;
        let last = have <= seg;
        let n = have.min(seg);
        let carry = buf[seg];
        let tag = keys
            .payload
            .encrypt_inout_detached(&nonce(summary.segments, last), &aad, (&mut buf[..n]).into())
            .map_err(|_| SealError::MalformedHeader("segment too large for AES-GCM"))?;
        output.write_all(&buf[..n]).map_err(SealError::Write)?;
        output.write_all(&tag).map_err(SealError::Write)?;
        summary.plaintext_bytes += n as u64;
        summary.sealed_bytes += (n + TAG_LEN) as u64;
        summary.segments += 1;
        if last {
            break;
        }
        buf[0] = carry;
        have = 1;
    }
    output.flush().map_err(SealError::Write)?;
    Ok(summary)
}

/// Read the header, unwrap the data key with `identity`, and return the keys.
fn unlock(input: &mut impl Read, identity: &Identity) -> Result<(Header, Keys), SealError> {
    let header = Header::read_from(input)?;
    let (sk, _) = identity.hpke_keypair();
    let prefix = header.prefix();
    let data_key = header.stanzas.iter().find_map(|s| {
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&s.enc).ok()?;
        let key = hpke::single_shot_open::<HpkeAead, HpkeKdf, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            WRAP_INFO,
            &s.wrapped,
            &prefix,
        )
        .ok()?;
        let key = Zeroizing::new(key);
        <[u8; 32]>::try_from(key.as_slice()).ok().map(Zeroizing::new)
    });
    let data_key = data_key.ok_or(SealError::NoMatchingRecipient)?;
    let keys = derive_keys(&data_key, &header.salt);
    let mut mac = header_mac(&keys.mac_key);
    mac.update(&header.authenticated_bytes());
    mac.verify_slice(&header.mac).map_err(|_| SealError::HeaderTampered)?;
    Ok((header, keys))
}

/// Open a sealed stream with `identity`, writing plaintext segment by segment.
///
/// Every segment is authenticated before its plaintext is written, but truncation is
/// only known at the end: a caller writing to a file must discard it on error (the
/// CLI writes through `veil_fs::AtomicFile`).
pub fn open(
    mut input: impl Read,
    mut output: impl Write,
    identity: &Identity,
) -> Result<OpenSummary, SealError> {
    let (header, keys) = unlock(&mut input, identity)?;
    let aad: [u8; 32] = Sha256::digest(header.to_bytes()).into();
    let cap = header.segment_size() + TAG_LEN;
    let mut buf = Zeroizing::new(vec![0u8; cap + 1]);
    let mut have = read_full(&mut input, &mut buf[..cap + 1]).map_err(SealError::Read)?;
    let mut summary = OpenSummary { plaintext_bytes: 0, segments: 0 };
    loop {
        let index = summary.segments;
        let last = have <= cap;
        let n = have.min(cap);
        if n < TAG_LEN {
            return Err(SealError::Truncated("final segment missing"));
        }
        let carry = buf[cap];
        let (data, tag) = buf[..n].split_at_mut(n - TAG_LEN);
        let tag = Tag::try_from(&*tag).map_err(|_| SealError::Truncated("segment cut short"))?;
        if keys.payload.decrypt_inout_detached(&nonce(index, last), &aad, data.into(), &tag).is_err() {
            // A full segment that only opens as "not last" means the stream was cut
            // cleanly at a segment boundary: say truncated, not tampered.
            if last
                && n == cap
                && keys.payload.decrypt_inout_detached(&nonce(index, false), &aad, data.into(), &tag).is_ok()
            {
                return Err(SealError::Truncated("stream ends before its last segment"));
            }
            return Err(SealError::SegmentTampered { index });
        }
        output.write_all(data).map_err(SealError::Write)?;
        summary.plaintext_bytes += data.len() as u64;
        summary.segments += 1;
        if last {
            break;
        }
        buf[0] = carry;
        have = 1 + read_full(&mut input, &mut buf[1..cap + 1]).map_err(SealError::Read)?;
    }
    output.flush().map_err(SealError::Write)?;
    Ok(summary)
}
