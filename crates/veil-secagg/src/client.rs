//! One client's side of a round: a state machine that accepts each stage's input
//! once, in order.

use std::collections::BTreeMap;

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::crypto::{self, context};
use crate::{
    Advertise, ClientId, Masked, Reveal, RevealedShare, RoundConfig, SealedShares, SecAggError, ShareKeys,
    UnmaskRequest,
};

/// Kinds of share, as bound into their commitments.
pub(crate) const SEED: &[u8] = b"seed";
pub(crate) const KEY: &[u8] = b"key";
/// One share: its x, then 32 bytes.
pub(crate) const SHARE_LEN: usize = 33;

/// The shares a client holds from one dealer.
struct Held {
    seed: Zeroizing<Vec<u8>>,
    key: Zeroizing<Vec<u8>>,
}

enum Stage {
    Advertised,
    Shared,
    Masked,
    Revealed,
}

/// A client's part in one round.
pub struct Client {
    cfg: RoundConfig,
    ctx: [u8; 32],
    me: ClientId,
    mask_sk: StaticSecret,
    enc_sk: StaticSecret,
    seed: Zeroizing<[u8; 32]>,
    roster: BTreeMap<ClientId, Advertise>,
    /// Shares this client holds, by dealer: (seed share, key share).
    held: BTreeMap<ClientId, Held>,
    stage: Stage,
}

impl Client {
    /// Join round `cfg` as `me`: fresh keys and seed, and the advertisement to send.
    pub fn new(cfg: &RoundConfig, me: ClientId) -> Result<(Self, Advertise), SecAggError> {
        crate::encode::check(cfg)?;
        if !cfg.participants.contains(&me) {
            return Err(SecAggError::NotInRound(me));
        }
        let mask_sk = StaticSecret::from(*crypto::random32()?);
        let enc_sk = StaticSecret::from(*crypto::random32()?);
        let ad = Advertise {
            client: me,
            mask_key: PublicKey::from(&mask_sk).to_bytes(),
            enc_key: PublicKey::from(&enc_sk).to_bytes(),
        };
        let client = Self {
            cfg: cfg.clone(),
            ctx: context(cfg),
            me,
            mask_sk,
            enc_sk,
            seed: crypto::random32()?,
            roster: BTreeMap::new(),
            held: BTreeMap::new(),
            stage: Stage::Advertised,
        };
        Ok((client, ad))
    }

    /// Stage 2: given the roster (everyone who advertised), deal shares of the seed
    /// and of the mask key to each other client on it.
    pub fn share_keys(&mut self, roster: &[Advertise]) -> Result<ShareKeys, SecAggError> {
        if !matches!(self.stage, Stage::Advertised) {
            return Err(SecAggError::Stage("share_keys after the roster was taken"));
        }
        let mut seen_keys = std::collections::BTreeSet::new();
        for a in roster {
            if !self.cfg.participants.contains(&a.client) {
                return Err(SecAggError::NotInRound(a.client));
            }
            // A key seen twice would let one client stand in for another's masks.
            if !seen_keys.insert(a.mask_key) || !seen_keys.insert(a.enc_key) {
                return Err(SecAggError::Malformed { client: a.client, why: "a public key repeats".into() });
            }
            if self.roster.insert(a.client, a.clone()).is_some() {
                return Err(SecAggError::Duplicate(a.client));
            }
        }
        let mine = self.roster.get(&self.me).ok_or(SecAggError::NotInRound(self.me))?;
        if mine.mask_key != PublicKey::from(&self.mask_sk).to_bytes()
            || mine.enc_key != PublicKey::from(&self.enc_sk).to_bytes()
        {
            return Err(SecAggError::Malformed {
                client: self.me,
                why: "the roster holds other keys for me".into(),
            });
        }
        self.threshold(self.roster.len(), "the roster")?;

        let n = self.cfg.participants.len();
        let seed_shares = crypto::split(&self.seed, self.cfg.threshold, n)?;
        let key_shares = crypto::split(&self.mask_sk.to_bytes(), self.cfg.threshold, n)?;
        let mut bundles = Vec::new();
        for (pos, &to) in self.cfg.participants.iter().enumerate() {
            let Some(peer) = self.roster.get(&to) else { continue };
            let (s, k) = (&seed_shares[pos], &key_shares[pos]);
            if to == self.me {
                self.held.insert(to, Held { seed: s.clone(), key: k.clone() });
                continue;
            }
            let plain = Zeroizing::new([s.as_slice(), k.as_slice()].concat());
            bundles.push(SealedShares {
                from: self.me,
                to,
                ciphertext: crypto::seal(&self.ctx, &self.enc_sk, &peer.enc_key, self.me, to, &plain),
                seed_share_digest: crypto::share_digest(&self.ctx, SEED, self.me, to, s),
                key_share_digest: crypto::share_digest(&self.ctx, KEY, self.me, to, k),
            });
        }
        self.stage = Stage::Shared;
        Ok(ShareKeys {
            client: self.me,
            seed_commitment: crypto::seed_commitment(&self.ctx, self.me, &self.seed),
            bundles,
        })
    }

    /// Stage 3: open the bundles addressed to this client (their senders are the
    /// clients still in the round) and mask `update` with weight `weight`.
    pub fn masked(
        &mut self,
        inbox: &[SealedShares],
        update: &[f32],
        weight: u64,
    ) -> Result<Masked, SecAggError> {
        if !matches!(self.stage, Stage::Shared) {
            return Err(SecAggError::Stage("masked before sharing keys, or twice"));
        }
        let mut vector = crate::encode::encode(&self.cfg, update, weight)?;
        for b in inbox {
            let peer = self.roster.get(&b.from).ok_or(SecAggError::NotInRound(b.from))?;
            if b.to != self.me || b.from == self.me {
                return Err(SecAggError::Malformed {
                    client: b.from,
                    why: "a bundle not addressed to me".into(),
                });
            }
            if self.held.contains_key(&b.from) {
                return Err(SecAggError::Duplicate(b.from));
            }
            let plain = crypto::open(&self.ctx, &self.enc_sk, &peer.enc_key, b.from, b.to, &b.ciphertext)
                .filter(|p| p.len() == 2 * SHARE_LEN)
                .ok_or(SecAggError::BadShare { offender: b.from, of: b.from })?;
            let (s, k) = plain.split_at(SHARE_LEN);
            if crypto::share_digest(&self.ctx, SEED, b.from, self.me, s) != b.seed_share_digest
                || crypto::share_digest(&self.ctx, KEY, b.from, self.me, k) != b.key_share_digest
            {
                return Err(SecAggError::BadShare { offender: b.from, of: b.from });
            }
            self.held
                .insert(b.from, Held { seed: Zeroizing::new(s.to_vec()), key: Zeroizing::new(k.to_vec()) });
        }
        self.threshold(self.held.len(), "masking")?;
        crypto::add_mask(&mut vector, &self.seed, false);
        for &peer in self.held.keys().filter(|&&p| p != self.me) {
            let seed =
                crypto::pair_seed(&self.ctx, &self.mask_sk, &self.roster[&peer].mask_key, self.me, peer);
            crypto::add_mask(&mut vector, &seed, self.me > peer);
        }
        self.stage = Stage::Masked;
        Ok(Masked { client: self.me, vector })
    }

    /// Stage 4: reveal seed shares of the survivors and key shares of the dropped —
    /// once, and never both for one client.
    pub fn reveal(&mut self, req: &UnmaskRequest) -> Result<Reveal, SecAggError> {
        if !matches!(self.stage, Stage::Masked) {
            return Err(SecAggError::Stage("reveal before masking, or twice"));
        }
        if let Some(&both) = req.survivors.iter().find(|c| req.dropped.contains(c)) {
            return Err(SecAggError::BothRevealed(both));
        }
        if !req.survivors.contains(&self.me) {
            return Err(SecAggError::Malformed {
                client: self.me,
                why: "I am not among the survivors".into(),
            });
        }
        let mut unique = std::collections::BTreeSet::new();
        for c in req.survivors.iter().chain(&req.dropped) {
            if !unique.insert(*c) {
                return Err(SecAggError::Duplicate(*c));
            }
            if !self.held.contains_key(c) {
                return Err(SecAggError::NotInRound(*c));
            }
        }
        self.threshold(req.survivors.len(), "unmasking")?;
        // From here on this round's answer is fixed: a second request is refused.
        self.stage = Stage::Revealed;
        let share = |of: &ClientId, key: bool| {
            let h = &self.held[of];
            RevealedShare { of: *of, share: if key { h.key.to_vec() } else { h.seed.to_vec() } }
        };
        Ok(Reveal {
            client: self.me,
            seed_shares: req.survivors.iter().map(|c| share(c, false)).collect(),
            key_shares: req.dropped.iter().map(|c| share(c, true)).collect(),
        })
    }

    fn threshold(&self, have: usize, stage: &'static str) -> Result<(), SecAggError> {
        if have < self.cfg.threshold as usize {
            return Err(SecAggError::BelowThreshold { have, threshold: self.cfg.threshold, stage });
        }
        Ok(())
    }
}
