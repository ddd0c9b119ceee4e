//! The aggregator's side of a round: it collects each stage's messages, decides who
//! is still in, and at the end removes the masks it is allowed to remove.

use std::collections::{BTreeMap, BTreeSet};

use x25519_dalek::{PublicKey, StaticSecret};

use crate::client::{KEY, SEED, SHARE_LEN};
use crate::crypto::{self, context};
use crate::{
    Advertise, ClientId, Masked, Reveal, RoundConfig, SealedShares, SecAggError, ShareKeys, UnmaskRequest,
};

#[derive(PartialEq)]
enum Stage {
    Advertise,
    ShareKeys,
    Masked,
    Reveal,
}

/// What a round produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The weighted mean of the survivors' updates (FedAvg).
    pub mean: Vec<f32>,
    /// Their total weight, in units of the round's `max_weight`.
    pub total_weight: f64,
    /// Whose updates are in it.
    pub survivors: Vec<ClientId>,
    /// Who shared keys and then dropped (their masks were removed through their
    /// reconstructed keys).
    pub dropped: Vec<ClientId>,
}

/// The aggregator of one round.
pub struct Aggregator {
    cfg: RoundConfig,
    ctx: [u8; 32],
    stage: Stage,
    roster: BTreeMap<ClientId, Advertise>,
    commitments: BTreeMap<ClientId, [u8; 32]>,
    /// Bundles by recipient.
    bundles: BTreeMap<ClientId, Vec<SealedShares>>,
    masked: BTreeMap<ClientId, Vec<u32>>,
    request: Option<UnmaskRequest>,
    /// Revealed shares that matched their commitments: (of, kind) → shares.
    shares: BTreeMap<(ClientId, bool), Vec<Vec<u8>>>,
    revealed: BTreeSet<ClientId>,
}

impl Aggregator {
    /// Aggregate round `cfg`.
    pub fn new(cfg: &RoundConfig) -> Result<Self, SecAggError> {
        crate::encode::check(cfg)?;
        Ok(Self {
            cfg: cfg.clone(),
            ctx: context(cfg),
            stage: Stage::Advertise,
            roster: BTreeMap::new(),
            commitments: BTreeMap::new(),
            bundles: BTreeMap::new(),
            masked: BTreeMap::new(),
            request: None,
            shares: BTreeMap::new(),
            revealed: BTreeSet::new(),
        })
    }

    fn expect(&self, stage: Stage, what: &'static str) -> Result<(), SecAggError> {
        if self.stage == stage { Ok(()) } else { Err(SecAggError::Stage(what)) }
    }

    fn threshold(&self, have: usize, stage: &'static str) -> Result<(), SecAggError> {
        if have < self.cfg.threshold as usize {
            return Err(SecAggError::BelowThreshold { have, threshold: self.cfg.threshold, stage });
        }
        Ok(())
    }

    /// Stage 1: a client's keys.
    pub fn advertise(&mut self, a: Advertise) -> Result<(), SecAggError> {
        self.expect(Stage::Advertise, "an advertisement after the roster closed")?;
        if !self.cfg.participants.contains(&a.client) {
            return Err(SecAggError::NotInRound(a.client));
        }
        if self.roster.contains_key(&a.client) {
            return Err(SecAggError::Duplicate(a.client));
        }
        if self
            .roster
            .values()
            .any(|o| [o.mask_key, o.enc_key].iter().any(|k| *k == a.mask_key || *k == a.enc_key))
            || a.mask_key == a.enc_key
        {
            return Err(SecAggError::Malformed { client: a.client, why: "a public key repeats".into() });
        }
        self.roster.insert(a.client, a);
        Ok(())
    }

    /// Close stage 1: the roster every client receives.
    pub fn roster(&mut self) -> Result<Vec<Advertise>, SecAggError> {
        self.expect(Stage::Advertise, "the roster twice")?;
        self.threshold(self.roster.len(), "the roster")?;
        self.stage = Stage::ShareKeys;
        Ok(self.roster.values().cloned().collect())
    }

    /// Stage 2: a client's bundles — one to every other client on the roster.
    pub fn share_keys(&mut self, m: ShareKeys) -> Result<(), SecAggError> {
        self.expect(Stage::ShareKeys, "shares outside the share stage")?;
        if !self.roster.contains_key(&m.client) {
            return Err(SecAggError::NotInRound(m.client));
        }
        if self.commitments.contains_key(&m.client) {
            return Err(SecAggError::Duplicate(m.client));
        }
        let to: BTreeSet<ClientId> = m.bundles.iter().map(|b| b.to).collect();
        let want: BTreeSet<ClientId> = self.roster.keys().copied().filter(|&c| c != m.client).collect();
        if to != want || m.bundles.len() != want.len() || m.bundles.iter().any(|b| b.from != m.client) {
            return Err(SecAggError::Malformed {
                client: m.client,
                why: "not exactly one bundle for each other client on the roster".into(),
            });
        }
        self.commitments.insert(m.client, m.seed_commitment);
        for b in m.bundles {
            self.bundles.entry(b.to).or_default().push(b);
        }
        Ok(())
    }

    /// Close stage 2: each client that shared gets the bundles the others that shared
    /// addressed to it.
    pub fn inboxes(&mut self) -> Result<BTreeMap<ClientId, Vec<SealedShares>>, SecAggError> {
        self.expect(Stage::ShareKeys, "inboxes twice")?;
        self.threshold(self.commitments.len(), "sharing keys")?;
        self.stage = Stage::Masked;
        let shared = &self.commitments;
        Ok(shared
            .keys()
            .map(|&c| {
                let inbox = self
                    .bundles
                    .get(&c)
                    .map(|bs| bs.iter().filter(|b| shared.contains_key(&b.from)).cloned().collect())
                    .unwrap_or_default();
                (c, inbox)
            })
            .collect())
    }

    /// Stage 3: a client's masked update.
    pub fn masked(&mut self, m: Masked) -> Result<(), SecAggError> {
        self.expect(Stage::Masked, "a masked update outside the masking stage")?;
        if !self.commitments.contains_key(&m.client) {
            return Err(SecAggError::NotInRound(m.client));
        }
        if m.vector.len() != self.cfg.dim as usize + 1 {
            return Err(SecAggError::Dimension { got: m.vector.len(), want: self.cfg.dim as usize + 1 });
        }
        if self.masked.contains_key(&m.client) {
            return Err(SecAggError::Duplicate(m.client));
        }
        self.masked.insert(m.client, m.vector);
        Ok(())
    }

    /// Close stage 3: whose seeds and whose keys to reveal.
    pub fn unmask_request(&mut self) -> Result<UnmaskRequest, SecAggError> {
        self.expect(Stage::Masked, "the unmask request twice")?;
        self.threshold(self.masked.len(), "masking")?;
        self.stage = Stage::Reveal;
        let req = UnmaskRequest {
            survivors: self.masked.keys().copied().collect(),
            dropped: self.commitments.keys().copied().filter(|c| !self.masked.contains_key(c)).collect(),
        };
        self.request = Some(req.clone());
        Ok(req)
    }

    /// Stage 4: a survivor's revealed shares, each checked against its dealer's
    /// commitment.
    pub fn reveal(&mut self, r: Reveal) -> Result<(), SecAggError> {
        self.expect(Stage::Reveal, "a reveal outside the unmask stage")?;
        let Some(req) = &self.request else { return Err(SecAggError::Stage("no unmask request")) };
        if !req.survivors.contains(&r.client) {
            return Err(SecAggError::NotInRound(r.client));
        }
        if self.revealed.contains(&r.client) {
            return Err(SecAggError::Duplicate(r.client));
        }
        let of_seeds: Vec<ClientId> = r.seed_shares.iter().map(|s| s.of).collect();
        let of_keys: Vec<ClientId> = r.key_shares.iter().map(|s| s.of).collect();
        if of_seeds != req.survivors || of_keys != req.dropped {
            return Err(SecAggError::Malformed { client: r.client, why: "not the shares asked for".into() });
        }
        let mut accepted = Vec::new();
        for (share, is_key) in
            r.seed_shares.iter().map(|s| (s, false)).chain(r.key_shares.iter().map(|s| (s, true)))
        {
            let bundle = self.bundles.get(&r.client).and_then(|bs| bs.iter().find(|b| b.from == share.of));
            let ok = share.share.len() == SHARE_LEN
                && match bundle {
                    Some(b) => {
                        let (kind, digest) =
                            if is_key { (KEY, b.key_share_digest) } else { (SEED, b.seed_share_digest) };
                        crypto::share_digest(&self.ctx, kind, share.of, r.client, &share.share) == digest
                    }
                    // Its own share was never sent, so it has no commitment here; it is
                    // checked with the others when the secret is rebuilt.
                    None => share.of == r.client,
                };
            if !ok {
                return Err(SecAggError::BadShare { offender: r.client, of: share.of });
            }
            accepted.push(((share.of, is_key), share.share.clone()));
        }
        for (k, v) in accepted {
            self.shares.entry(k).or_default().push(v);
        }
        self.revealed.insert(r.client);
        Ok(())
    }

    /// Close the round: rebuild the survivors' seeds and the dropped clients' keys,
    /// remove the masks, and decode the weighted mean.
    pub fn finish(self) -> Result<Aggregate, SecAggError> {
        self.expect(Stage::Reveal, "finish before the unmask stage")?;
        self.threshold(self.revealed.len(), "unmasking")?;
        let Some(req) = &self.request else { return Err(SecAggError::Stage("no unmask request")) };
        let mut sum = vec![0u32; self.cfg.dim as usize + 1];
        for v in self.masked.values() {
            for (s, x) in sum.iter_mut().zip(v) {
                *s = s.wrapping_add(*x);
            }
        }
        for &c in &req.survivors {
            let seed = self.rebuild(c, false)?;
            if crypto::seed_commitment(&self.ctx, c, &seed) != self.commitments[&c] {
                return Err(SecAggError::BadSecret { dealer: c });
            }
            crypto::add_mask(&mut sum, &seed, true);
        }
        for &d in &req.dropped {
            let sk = StaticSecret::from(*self.rebuild(d, true)?);
            if PublicKey::from(&sk).to_bytes() != self.roster[&d].mask_key {
                return Err(SecAggError::BadSecret { dealer: d });
            }
            // Survivor j applied +mask(j, d) if j < d, −mask otherwise: undo it.
            for &j in &req.survivors {
                let seed = crypto::pair_seed(&self.ctx, &sk, &self.roster[&j].mask_key, d, j);
                crypto::add_mask(&mut sum, &seed, j < d);
            }
        }
        let (mean, total_weight) = crate::encode::decode(&self.cfg, &sum)?;
        Ok(Aggregate { mean, total_weight, survivors: req.survivors.clone(), dropped: req.dropped.clone() })
    }

    fn rebuild(&self, of: ClientId, key: bool) -> Result<zeroize::Zeroizing<[u8; 32]>, SecAggError> {
        let shares = self.shares.get(&(of, key)).map(Vec::as_slice).unwrap_or_default();
        self.threshold(shares.len(), "rebuilding a secret")?;
        crypto::combine(shares).ok_or(SecAggError::BadSecret { dealer: of })
    }
}
