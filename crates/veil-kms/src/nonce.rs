//! Single-use challenges with an expiry, that strangers cannot use up.
//!
//! `POST /v1/kms/challenge` is unauthenticated. If every outstanding challenge took a
//! slot, anyone could hold all the slots (10,000 at 60 s is ~170 requests/s) and lock
//! every enclave out. So a challenge holds no state: its nonce is its expiry, 16
//! random bytes and a MAC over both under a key that lives only in this process.
//! What is remembered is the nonces *spent* — answered with evidence, which costs the
//! caller an attestation — until they expire, so each is accepted once.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use veil_evidence::AttestationError;
use zeroize::Zeroizing;

use veil_protocol::kms::Challenge;

use crate::KmsError;

/// Expiry (8 bytes), randomness (16) and MAC (16): 40 bytes, 80 hex digits.
const RANDOM_LEN: usize = 16;
const MAC_LEN: usize = 16;
const NONCE_LEN: usize = 8 + RANDOM_LEN + MAC_LEN;

/// Issued challenges (stateless) and spent nonces (until they expire).
pub struct NonceStore {
    ttl_secs: u64,
    /// Spent nonces kept before expired ones are swept.
    capacity: usize,
    key: Zeroizing<[u8; 32]>,
    spent: Mutex<HashMap<[u8; NONCE_LEN], u64>>,
}

impl std::fmt::Debug for NonceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceStore").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

impl NonceStore {
    /// A store whose nonces live `ttl_secs`; expired spent nonces are swept once
    /// `capacity` are kept. Fails only if the system random generator does.
    pub fn new(ttl_secs: u64, capacity: usize) -> Result<Self, KmsError> {
        Ok(Self {
            ttl_secs,
            capacity: capacity.max(1),
            key: Zeroizing::new(crate::random32()?),
            spent: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes any key length");
        mac.update(b"veil/kms/challenge/v1\0");
        mac.update(body);
        mac
    }

    /// Issue a fresh challenge at `now`. Costs no memory, so it cannot run out.
    pub fn issue(&self, now: u64) -> Result<Challenge, KmsError> {
        let expires_at = now.saturating_add(self.ttl_secs);
        let random = crate::random32()?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&expires_at.to_be_bytes());
        nonce[8..8 + RANDOM_LEN].copy_from_slice(&random[..RANDOM_LEN]);
        let tag = self.mac(&nonce[..8 + RANDOM_LEN]).finalize().into_bytes();
        nonce[8 + RANDOM_LEN..].copy_from_slice(&tag[..MAC_LEN]);
        Ok(Challenge { nonce: hex::encode(nonce), expires_at })
    }

    /// Accept `nonce` once if this process issued it and it has not expired at `now`.
    /// Forged, expired and spent nonces are refused the same way: replay.
    pub fn consume(&self, nonce: &str, now: u64) -> Result<(), AttestationError> {
        let mut raw = [0u8; NONCE_LEN];
        hex::decode_to_slice(nonce, &mut raw).map_err(|_| AttestationError::Replay)?;
        let (body, tag) = raw.split_at(8 + RANDOM_LEN);
        self.mac(body).verify_truncated_left(tag).map_err(|_| AttestationError::Replay)?;
        let expires_at = u64::from_be_bytes(body[..8].try_into().map_err(|_| AttestationError::Replay)?);
        if now > expires_at {
            return Err(AttestationError::Replay);
        }
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        if spent.len() >= self.capacity {
            spent.retain(|_, exp| *exp >= now);
        }
        if spent.insert(raw, expires_at).is_some() {
            return Err(AttestationError::Replay);
        }
        Ok(())
    }

    /// Spent nonces remembered (expired ones included until swept).
    pub fn spent(&self) -> usize {
        self.spent.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
