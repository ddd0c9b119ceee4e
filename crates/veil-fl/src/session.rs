//! The aggregator's session for one round: it checks who speaks, feeds secure
//! aggregation stage by stage, and, at the end, applies the weighted mean update to
//! the global model. The caller moves messages and decides when a stage closes (all
//! expected clients answered, or its timeout passed).

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;
use veil_content::Root;
use veil_protocol::fl::{FlBody, FlMessage, LrModel, SignedRoundStart, Stage, StageInput};
use veil_secagg::{Aggregator, ClientId, SealedShares, UnmaskRequest};

use crate::{FlError, check_message, check_start, jcs_root, stage_name};

/// What a federation's aggregator remembers of its last finished round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRound {
    /// Its number.
    pub round: u64,
    /// The root of the model it produced.
    pub global_root: Root,
}

/// A finished round: the new model and what went into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The model the round started from.
    pub previous_root: Root,
    /// The new global model: the previous one plus the survivors' weighted mean update.
    pub global: LrModel,
    /// Its root.
    pub global_root: Root,
    /// Whose updates are in it.
    pub survivors: Vec<ClientId>,
    /// Who shared keys and then dropped.
    pub dropped: Vec<ClientId>,
    /// The root of each survivor's masked update (little-endian words): commitments
    /// a client checks its own upload against.
    pub update_roots: BTreeMap<ClientId, Root>,
    /// The survivors' total weight in units of the round's `max_weight`.
    pub total_weight: f64,
    /// Messages refused, by client, with the reason (their senders counted as dropped).
    pub refused: BTreeMap<ClientId, String>,
}

/// One round at the aggregator.
pub struct Session {
    start: SignedRoundStart,
    federation: String,
    round: u64,
    keys: BTreeMap<ClientId, VerifyingKey>,
    global_root: Root,
    /// The model the round starts from, which the mean update is added to.
    global: LrModel,
    agg: Option<Aggregator>,
    stage: Stage,
    /// Who the open stage still waits for.
    pending: BTreeSet<ClientId>,
    roster: Vec<FlMessage>,
    inboxes: BTreeMap<ClientId, Vec<SealedShares>>,
    unmask: Option<UnmaskRequest>,
    update_roots: BTreeMap<ClientId, Root>,
    refused: BTreeMap<ClientId, String>,
    result: Option<Result<Finished, FlError>>,
}

impl Session {
    /// Open a round on the owner's signed start, from `global` (the start's model as
    /// the aggregator opened it; it must be the one the start names). `last` is the
    /// federation's last finished round here, if any: the start must be the next one,
    /// from its model.
    pub fn open(start: SignedRoundStart, global: LrModel, last: Option<&LastRound>) -> Result<Self, FlError> {
        let keys = check_start(&start)?;
        let s = &start.start;
        crate::check_global(s, &global)?;
        let global_root = s.global_root;
        if let Some(last) = last {
            if s.config.round != last.round + 1 || global_root != last.global_root {
                return Err(FlError::BadRound(format!(
                    "round {} from model {global_root} does not follow round {} which made {}",
                    s.config.round, last.round, last.global_root
                )));
            }
        } else if s.config.round == 0 {
            return Err(FlError::BadRound("rounds count from 1".into()));
        }
        let agg = Aggregator::new(&s.config)?;
        Ok(Self {
            federation: s.config.federation.clone(),
            round: s.config.round,
            pending: keys.keys().copied().collect(),
            keys,
            global_root,
            global,
            agg: Some(agg),
            stage: Stage::Advertise,
            roster: Vec::new(),
            inboxes: BTreeMap::new(),
            unmask: None,
            update_roots: BTreeMap::new(),
            refused: BTreeMap::new(),
            result: None,
            start,
        })
    }

    /// The owner's start.
    pub fn start(&self) -> &SignedRoundStart {
        &self.start
    }

    /// The root of the model the round starts from.
    pub fn global_root(&self) -> Root {
        self.global_root
    }

    /// Where the round is.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Whether every client the open stage waits for has answered.
    pub fn complete(&self) -> bool {
        self.pending.is_empty()
    }

    /// How it ended, once it has.
    pub fn result(&self) -> Option<&Result<Finished, FlError>> {
        self.result.as_ref()
    }

    /// Take a client's message for the open stage. A message that is not signed by
    /// a participant is refused and changes nothing; a signed one that secure
    /// aggregation refuses is refused too, and its sender is out of the round (it
    /// counts as dropped).
    pub fn submit(&mut self, msg: FlMessage) -> Result<(), FlError> {
        check_message(&msg, &self.federation, self.round, &self.keys)?;
        let client = msg.body.client();
        if msg.body.stage() != self.stage {
            return Err(FlError::WrongStage {
                is: stage_name(self.stage),
                want: stage_name(msg.body.stage()),
            });
        }
        if !self.pending.remove(&client) {
            return Err(FlError::BadMessage(veil_secagg::SecAggError::Duplicate(client)));
        }
        let Some(agg) = self.agg.as_mut() else {
            return Err(FlError::WrongStage {
                is: stage_name(self.stage),
                want: stage_name(msg.body.stage()),
            });
        };
        let taken = match &msg.body {
            FlBody::Advertise(a) => agg.advertise(a.clone()),
            FlBody::ShareKeys(s) => agg.share_keys(s.clone()),
            FlBody::Masked(m) => agg.masked(m.clone()).inspect(|()| {
                let bytes: Vec<u8> = m.vector.iter().flat_map(|w| w.to_le_bytes()).collect();
                if let Ok(root) = veil_content::root_of(&bytes) {
                    self.update_roots.insert(client, root);
                }
            }),
            FlBody::Reveal(r) => agg.reveal(r.clone()),
        };
        match taken {
            Ok(()) => {
                if matches!(msg.body, FlBody::Advertise(_)) {
                    self.roster.push(msg);
                }
                Ok(())
            }
            Err(e) => {
                self.refused.insert(client, e.to_string());
                Err(FlError::BadMessage(e))
            }
        }
    }

    /// Close the open stage and open the next (or finish). Returns the new stage.
    pub fn advance(&mut self) -> Stage {
        let step = self.step();
        if let Err(e) = step {
            self.agg = None;
            self.stage = Stage::Aborted;
            self.pending.clear();
            self.result = Some(Err(e));
        }
        self.stage
    }

    fn step(&mut self) -> Result<(), FlError> {
        let Some(agg) = self.agg.as_mut() else { return Ok(()) };
        let aborted = FlError::Aborted;
        match self.stage {
            Stage::Advertise => {
                let roster = agg.roster().map_err(aborted)?;
                self.pending = roster.iter().map(|a| a.client).collect();
                self.roster.retain(|m| self.pending.contains(&m.body.client()));
                self.stage = Stage::ShareKeys;
            }
            Stage::ShareKeys => {
                self.inboxes = agg.inboxes().map_err(aborted)?;
                self.pending = self.inboxes.keys().copied().collect();
                self.stage = Stage::Masked;
            }
            Stage::Masked => {
                let req = agg.unmask_request().map_err(aborted)?;
                self.update_roots.retain(|c, _| req.survivors.contains(c));
                self.pending = req.survivors.iter().copied().collect();
                self.unmask = Some(req);
                self.stage = Stage::Unmask;
            }
            Stage::Unmask => {
                let Some(agg) = self.agg.take() else { return Ok(()) };
                let a = agg.finish().map_err(aborted)?;
                let previous = self.global.params();
                let next: Vec<f32> = previous.iter().zip(&a.mean).map(|(p, d)| p + d).collect();
                let global = LrModel::from_params(&next);
                let global_root = jcs_root(&global)?;
                self.pending.clear();
                self.stage = Stage::Done;
                self.result = Some(Ok(Finished {
                    previous_root: self.global_root,
                    global,
                    global_root,
                    survivors: a.survivors,
                    dropped: a.dropped,
                    update_roots: std::mem::take(&mut self.update_roots),
                    total_weight: a.total_weight,
                    refused: self.refused.clone(),
                }));
            }
            Stage::Done | Stage::Aborted => {}
        }
        Ok(())
    }

    /// What `client` needs for the open stage: everyone's signed advertisement, the
    /// bundles addressed to it, or the unmask request. `None` while the round is at
    /// another stage, or when `client` is not in it any more.
    pub fn input_for(&self, client: ClientId) -> Option<StageInput> {
        if !self.pending.contains(&client) {
            return None;
        }
        match self.stage {
            Stage::ShareKeys => Some(StageInput::ShareKeys(self.roster.clone())),
            Stage::Masked => self.inboxes.get(&client).cloned().map(StageInput::Masked),
            Stage::Unmask => self.unmask.clone().map(StageInput::Unmask),
            Stage::Advertise | Stage::Done | Stage::Aborted => None,
        }
    }

    /// The federation id.
    pub fn federation(&self) -> &str {
        &self.federation
    }

    /// The round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Whether `client` is a participant (its key is on the start).
    pub fn has_client(&self, client: ClientId) -> bool {
        self.keys.contains_key(&client)
    }
}
