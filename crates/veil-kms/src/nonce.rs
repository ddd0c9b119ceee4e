//! Single-use challenges with an expiry.

use std::collections::HashMap;
use std::sync::Mutex;

use veil_evidence::AttestationError;

use veil_protocol::kms::Challenge;

use crate::KmsError;

/// Outstanding challenges. A nonce is accepted once, before it expires; memory is
/// bounded (expired nonces are swept, and beyond `capacity` new challenges wait).
#[derive(Debug)]
pub struct NonceStore {
    ttl_secs: u64,
    capacity: usize,
    live: Mutex<HashMap<String, u64>>,
}

impl NonceStore {
    /// A store whose nonces live `ttl_secs` and of which at most `capacity` are live.
    pub fn new(ttl_secs: u64, capacity: usize) -> Self {
        Self {
            ttl_secs,
            capacity,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // A poisoned lock only means another thread panicked mid-insert; the map is
        // still a valid set of nonces.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Issue a fresh challenge at `now`.
    pub fn issue(&self, now: u64) -> Result<Challenge, KmsError> {
        let nonce = hex::encode(crate::random32()?);
        let expires_at = now.saturating_add(self.ttl_secs);
        let mut live = self.live();
        if live.len() >= self.capacity {
            live.retain(|_, exp| *exp >= now);
            if live.len() >= self.capacity {
                return Err(KmsError::Busy);
            }
        }
        live.insert(nonce.clone(), expires_at);
        Ok(Challenge { nonce, expires_at })
    }

    /// Accept `nonce` once if it was issued here and has not expired at `now`.
    /// Expired or unknown nonces are refused the same way: replay.
    pub fn consume(&self, nonce: &str, now: u64) -> Result<(), AttestationError> {
        match self.live().remove(nonce) {
            Some(expires_at) if now <= expires_at => Ok(()),
            _ => Err(AttestationError::Replay),
        }
    }

    /// Challenges currently outstanding (expired ones included until swept).
    pub fn outstanding(&self) -> usize {
        self.live().len()
    }
}
