//! The sealed-file header: its bytes, parsing and authentication.

use std::io::Read;

use crate::SealError;

/// First bytes of every sealed file.
pub const MAGIC: &[u8; 8] = b"VEILSEAL";
/// Header version written by this build.
pub const VERSION: u8 = 1;
/// Default segment size: 64 KiB of plaintext.
pub const DEFAULT_SEGMENT_LOG2: u8 = 16;
/// AES-GCM tag bytes per segment.
pub const TAG_LEN: usize = 16;
/// Most recipients one file may be sealed to.
pub const MAX_RECIPIENTS: usize = 255;

pub(crate) const SALT_LEN: usize = 32;
pub(crate) const ENC_LEN: usize = 32;
pub(crate) const WRAPPED_LEN: usize = 32 + TAG_LEN;
pub(crate) const STANZA_LEN: usize = ENC_LEN + WRAPPED_LEN;
pub(crate) const MAC_LEN: usize = 32;
/// magic, version, segment log2, two reserved bytes, salt, recipient count.
pub(crate) const PREFIX_LEN: usize = 8 + 1 + 1 + 2 + SALT_LEN + 2;
const MIN_SEGMENT_LOG2: u8 = 12;
const MAX_SEGMENT_LOG2: u8 = 24;

/// One recipient's wrapped copy of the data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stanza {
    pub enc: [u8; ENC_LEN],
    pub wrapped: [u8; WRAPPED_LEN],
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// log2 of the plaintext bytes per segment.
    pub segment_log2: u8,
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) stanzas: Vec<Stanza>,
    pub(crate) mac: [u8; MAC_LEN],
}

impl Header {
    /// Plaintext bytes per segment.
    pub fn segment_size(&self) -> usize {
        1 << self.segment_log2
    }

    /// How many recipients the data key is wrapped to.
    pub fn recipients(&self) -> usize {
        self.stanzas.len()
    }

    /// The fixed part every wrapped key is bound to.
    pub(crate) fn prefix(&self) -> [u8; PREFIX_LEN] {
        let mut p = [0u8; PREFIX_LEN];
        p[..8].copy_from_slice(MAGIC);
        p[8] = VERSION;
        p[9] = self.segment_log2;
        p[12..12 + SALT_LEN].copy_from_slice(&self.salt);
        p[PREFIX_LEN - 2..].copy_from_slice(&(self.stanzas.len() as u16).to_be_bytes());
        p
    }

    /// Everything the MAC covers.
    pub(crate) fn authenticated_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PREFIX_LEN + self.stanzas.len() * STANZA_LEN);
        out.extend_from_slice(&self.prefix());
        for s in &self.stanzas {
            out.extend_from_slice(&s.enc);
            out.extend_from_slice(&s.wrapped);
        }
        out
    }

    /// The full header as written.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.authenticated_bytes();
        out.extend_from_slice(&self.mac);
        out
    }

    /// Read and check the structure of a header (not yet its MAC: that needs the key).
    pub fn read_from(r: &mut impl Read) -> Result<Self, SealError> {
        let mut prefix = [0u8; PREFIX_LEN];
        read_exact(r, &mut prefix[..8], "no header")?;
        if &prefix[..8] != MAGIC {
            return Err(SealError::NotSealed);
        }
        read_exact(r, &mut prefix[8..], "header cut short")?;
        if prefix[8] != VERSION {
            return Err(SealError::UnsupportedVersion(prefix[8]));
        }
        let segment_log2 = prefix[9];
        if !(MIN_SEGMENT_LOG2..=MAX_SEGMENT_LOG2).contains(&segment_log2) {
            return Err(SealError::MalformedHeader("segment size out of range"));
        }
        if prefix[10..12] != [0, 0] {
            return Err(SealError::MalformedHeader("reserved bytes are not zero"));
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&prefix[12..12 + SALT_LEN]);
        let n = u16::from_be_bytes([prefix[PREFIX_LEN - 2], prefix[PREFIX_LEN - 1]]) as usize;
        if n == 0 || n > MAX_RECIPIENTS {
            return Err(SealError::MalformedHeader("recipient count out of range"));
        }
        let mut stanzas = Vec::with_capacity(n);
        for _ in 0..n {
            let mut enc = [0u8; ENC_LEN];
            let mut wrapped = [0u8; WRAPPED_LEN];
            read_exact(r, &mut enc, "header cut short")?;
            read_exact(r, &mut wrapped, "header cut short")?;
            stanzas.push(Stanza { enc, wrapped });
        }
        let mut mac = [0u8; MAC_LEN];
        read_exact(r, &mut mac, "header cut short")?;
        Ok(Self { segment_log2, salt, stanzas, mac })
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<(), SealError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => SealError::Truncated(what),
        _ => SealError::Read(e),
    })
}
