//! A client's side of a federated round: check the owner's start, train, and run
//! secure aggregation with every message signed and every peer's keys checked.

use std::collections::BTreeMap;

use ed25519_dalek::{SigningKey, VerifyingKey};
use veil_protocol::fl::{FlBody, FlMessage, LrModel, SignedRoundStart, StageInput, TrainSpec};
use veil_secagg::{Advertise, Client, ClientId, SecAggError};

use crate::{FlError, check_message, check_start, lr, sign_message};

/// A client's update for a round: its locally trained model minus the global one,
/// each parameter clipped to ±`clip` (the round refuses values beyond it), and its
/// weight (its row count).
pub fn local_update(
    spec: &TrainSpec,
    global: &LrModel,
    rows: &[Vec<f32>],
    labels: &[u8],
    clip: f32,
) -> Result<(Vec<f32>, u64), FlError> {
    let local = lr::train(spec, global, rows, labels)?;
    let update =
        local.params().iter().zip(global.params()).map(|(l, g)| (l - g).clamp(-clip, clip)).collect();
    Ok((update, rows.len() as u64))
}

/// One client in one round.
pub struct Participant {
    key: SigningKey,
    me: ClientId,
    start: SignedRoundStart,
    keys: BTreeMap<ClientId, VerifyingKey>,
    client: Client,
}

impl Participant {
    /// Take part as `me` in the round `start` orders — only when it is signed by
    /// `owner` (the federation's key this client was given), lists `me` under `key`'s
    /// public half, and names the federation `owner` and `name` derive. Returns the
    /// participant and its signed advertisement.
    pub fn join(
        key: SigningKey,
        me: ClientId,
        owner: &VerifyingKey,
        name: &str,
        start: SignedRoundStart,
    ) -> Result<(Self, FlMessage), FlError> {
        let keys = check_start(&start)?;
        if start.start.owner != hex::encode(owner.as_bytes()) || start.start.name != name {
            return Err(FlError::BadRound(format!(
                "the round is {:?} under owner {}, not {name:?} under {}",
                start.start.name,
                start.start.owner,
                hex::encode(owner.as_bytes())
            )));
        }
        if keys.get(&me) != Some(&key.verifying_key()) {
            return Err(FlError::NotParticipant(format!("client {me} is not listed with this key")));
        }
        let (client, ad) = Client::new(&start.start.config, me)?;
        let msg = sign_message(
            &key,
            &start.start.config.federation,
            start.start.config.round,
            FlBody::Advertise(ad),
        )?;
        Ok((Self { key, me, start, keys, client }, msg))
    }

    /// The round's start (its spec, model and configuration).
    pub fn start(&self) -> &SignedRoundStart {
        &self.start
    }

    fn sign(&self, body: FlBody) -> Result<FlMessage, FlError> {
        let c = &self.start.start.config;
        sign_message(&self.key, &c.federation, c.round, body)
    }

    /// Answer the aggregator's input for the next stage: the roster (every
    /// advertisement must be signed by the key the owner listed), the bundles
    /// addressed to this client (with `update` and `weight`), or the unmask request.
    pub fn answer(&mut self, input: StageInput, update: &[f32], weight: u64) -> Result<FlMessage, FlError> {
        let body = match input {
            StageInput::ShareKeys(roster) => {
                let c = &self.start.start.config;
                let mut ads: Vec<Advertise> = Vec::with_capacity(roster.len());
                for m in &roster {
                    check_message(m, &c.federation, c.round, &self.keys)?;
                    match &m.body {
                        FlBody::Advertise(a) => ads.push(a.clone()),
                        _ => {
                            return Err(FlError::BadMessage(SecAggError::Stage(
                                "a roster entry is not an advertisement",
                            )));
                        }
                    }
                }
                FlBody::ShareKeys(self.client.share_keys(&ads)?)
            }
            StageInput::Masked(inbox) => FlBody::Masked(self.client.masked(&inbox, update, weight)?),
            StageInput::Unmask(req) => FlBody::Reveal(self.client.reveal(&req)?),
        };
        self.sign(body)
    }

    /// This client's number.
    pub fn id(&self) -> ClientId {
        self.me
    }
}
