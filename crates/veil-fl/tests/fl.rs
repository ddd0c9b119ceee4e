//! Federated rounds in one process: the non-IID split, FedAvg over secure aggregation
//! reaching central training's accuracy, and every refusal the aggregator and the
//! clients owe an attacker.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use veil_fl::{
    FlError, LastRound, Participant, Session, federation_id, local_update, lr, shard, sign_message,
    sign_start,
};
use veil_model::Dataset;
use veil_protocol::fl::{FlBody, FlMessage, LrModel, RoundStart, SignedRoundStart, Stage, TrainSpec};
use veil_secagg::{Advertise, RoundConfig};

const CSV: &str = include_str!("../../../models/data/breast_cancer.csv");

struct Data {
    train: Vec<Vec<f32>>,
    labels: Vec<u8>,
    test: Vec<Vec<f32>>,
    test_labels: Vec<u8>,
}

fn data() -> Data {
    let d = Dataset::parse(CSV).unwrap();
    Data {
        labels: d.train_labels.iter().map(|&y| y as u8).collect(),
        train: d.train,
        test_labels: d.test.iter().map(|(_, y)| *y as u8).collect(),
        test: d.test.into_iter().map(|(x, _)| x).collect(),
    }
}

fn spec(d: &Data, epochs: u32) -> TrainSpec {
    let all: Vec<Vec<f32>> = d.train.iter().chain(&d.test).cloned().collect();
    let (feature_min, feature_max) = lr::ranges(&all);
    TrainSpec { epochs, learning_rate: 2.0, l2: 1e-4, feature_min, feature_max }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

struct Fed {
    owner: SigningKey,
    clients: Vec<SigningKey>,
    id: String,
}

impl Fed {
    fn new(n: u32) -> Self {
        let owner = key(200);
        let id = federation_id("wdbc", &owner.verifying_key()).unwrap();
        Self { owner, clients: (1..=n).map(|c| key(c as u8)).collect(), id }
    }

    fn start(&self, round: u64, global: &LrModel, spec: &TrainSpec) -> SignedRoundStart {
        let n = self.clients.len() as u32;
        let start = RoundStart {
            name: "wdbc".into(),
            owner: hex::encode(self.owner.verifying_key().as_bytes()),
            config: RoundConfig {
                federation: self.id.clone(),
                round,
                participants: (1..=n).collect(),
                threshold: n / 2 + 1,
                dim: global.weights.len() as u32 + 1,
                clip: 4.0,
                scale_bits: 20,
                max_weight: 1000,
            },
            clients: (1..=n)
                .map(|c| (c, hex::encode(self.clients[c as usize - 1].verifying_key().as_bytes())))
                .collect(),
            spec: spec.clone(),
            global_root: veil_fl::jcs_root(global).unwrap(),
            // Sealing is the aggregator's and the clients' business, not this crate's.
            global_sealed: String::new(),
            model_key: String::new(),
            stage_timeout_ms: 1000,
            registry: None,
        };
        sign_start(&self.owner, start).unwrap()
    }
}

/// Run one round with every client in `shards` taking part except those in `drop_after_sharing`.
fn round(
    fed: &Fed,
    start: SignedRoundStart,
    global: &LrModel,
    last: Option<&LastRound>,
    shards: &[(Vec<Vec<f32>>, Vec<u8>)],
    drop_after_sharing: &[u32],
) -> Result<veil_fl::Finished, FlError> {
    let owner = fed.owner.verifying_key();
    let mut session = Session::open(start.clone(), global.clone(), last)?;
    let mut parts = BTreeMap::new();
    for (i, k) in fed.clients.iter().enumerate() {
        let me = i as u32 + 1;
        let (p, ad) = Participant::join(k.clone(), me, &owner, "wdbc", start.clone())?;
        session.submit(ad)?;
        let s = &start.start;
        let (update, weight) = local_update(&s.spec, global, &shards[i].0, &shards[i].1, s.config.clip)?;
        parts.insert(me, (p, update, weight));
    }
    assert!(session.complete());
    for stage in [Stage::ShareKeys, Stage::Masked, Stage::Unmask] {
        assert_eq!(session.advance(), stage, "{:?}", session.result());
        for (me, (p, update, weight)) in parts.iter_mut() {
            if stage != Stage::ShareKeys && drop_after_sharing.contains(me) {
                continue;
            }
            if let Some(input) = session.input_for(*me) {
                session.submit(p.answer(input, update, *weight)?)?;
            }
        }
    }
    session.advance();
    session.result().cloned().expect("finished")
}

/// Round 1 from the zero model with every client's advertisement in.
fn advertised(fed: &Fed, spec: &TrainSpec) -> (Session, Vec<Participant>) {
    let start = fed.start(1, &LrModel::zeros(30), spec);
    let owner = fed.owner.verifying_key();
    let mut session = Session::open(start.clone(), LrModel::zeros(30), None).unwrap();
    let mut parts = Vec::new();
    for (i, k) in fed.clients.iter().enumerate() {
        let (p, ad) = Participant::join(k.clone(), i as u32 + 1, &owner, "wdbc", start.clone()).unwrap();
        session.submit(ad).unwrap();
        parts.push(p);
    }
    (session, parts)
}

fn shards(d: &Data, n: usize) -> Vec<(Vec<Vec<f32>>, Vec<u8>)> {
    (0..n)
        .map(|k| {
            let rows = shard::non_iid(&d.labels, n, k).unwrap();
            (rows.iter().map(|&i| d.train[i].clone()).collect(), rows.iter().map(|&i| d.labels[i]).collect())
        })
        .collect()
}

#[test]
fn the_non_iid_split_is_a_skewed_partition() {
    let d = data();
    let n = 5;
    let mut seen = vec![0u32; d.labels.len()];
    let mut single_class = 0;
    for k in 0..n {
        let rows = shard::non_iid(&d.labels, n, k).unwrap();
        assert_eq!(rows, shard::non_iid(&d.labels, n, k).unwrap(), "deterministic");
        for &i in &rows {
            seen[i] += 1;
        }
        let ones = rows.iter().filter(|&&i| d.labels[i] == 1).count();
        if ones == 0 || ones == rows.len() {
            single_class += 1;
        }
    }
    assert!(seen.iter().all(|&s| s == 1), "every row with exactly one client");
    assert!(single_class >= 1, "some client sees one class only");
    assert!(shard::non_iid(&d.labels, 5, 5).is_err());
    assert!(shard::non_iid(&d.labels[..3], 5, 0).is_err());
}

/// After R rounds of E local epochs on the non-IID shards, through secure
/// aggregation with a client dropping in one round, the federated model is within
/// one point of the same logistic regression trained centrally for R·E epochs.
#[test]
fn fedavg_over_secure_aggregation_matches_central_training() {
    let d = data();
    let (rounds, epochs, n) = (30u32, 5u32, 5usize);
    let spec = spec(&d, epochs);
    let fed = Fed::new(n as u32);
    let shards = shards(&d, n);
    let mut global = LrModel::zeros(30);
    let mut last: Option<LastRound> = None;
    for r in 1..=u64::from(rounds) {
        let drop: &[u32] = if r == 3 { &[2] } else { &[] };
        let f = round(&fed, fed.start(r, &global, &spec), &global, last.as_ref(), &shards, drop).unwrap();
        if r == 3 {
            assert_eq!(f.dropped, [2]);
            assert_eq!(f.survivors, [1, 3, 4, 5]);
        }
        assert_eq!(f.update_roots.len(), f.survivors.len());
        global = f.global;
        last = Some(LastRound { round: r, global_root: f.global_root });
    }
    let fl = lr::accuracy(&global, &spec, &d.test, &d.test_labels);
    let central_spec = TrainSpec { epochs: rounds * epochs, ..spec.clone() };
    let central = lr::train(&central_spec, &LrModel::zeros(30), &d.train, &d.labels).unwrap();
    let central = lr::accuracy(&central, &spec, &d.test, &d.test_labels);
    assert!(central > 0.9, "central {central}");
    assert!((fl - central).abs() <= 0.01 + 1e-9, "federated {fl} vs central {central}");
}

#[test]
fn strangers_replays_and_forged_starts_are_refused() {
    let d = data();
    let spec = spec(&d, 1);
    let fed = Fed::new(3);
    let global = LrModel::zeros(30);
    let start = fed.start(1, &global, &spec);
    let mut session = Session::open(start.clone(), global.clone(), None).unwrap();
    let owner = fed.owner.verifying_key();

    // A stranger signing as client 1.
    let (_, ad) = Participant::join(fed.clients[0].clone(), 1, &owner, "wdbc", start.clone()).unwrap();
    let FlBody::Advertise(a) = ad.body.clone() else { unreachable!() };
    let forged = sign_message(&key(99), &fed.id, 1, FlBody::Advertise(a.clone())).unwrap();
    assert!(matches!(session.submit(forged), Err(FlError::NotParticipant(_))));
    // A client the round does not list.
    let outsider =
        sign_message(&key(99), &fed.id, 1, FlBody::Advertise(Advertise { client: 9, ..a.clone() })).unwrap();
    assert!(matches!(session.submit(outsider), Err(FlError::NotParticipant(_))));
    // Client 1's genuine message from round 1, re-addressed to round 2 or another
    // federation: the signature covers both.
    for (fid, r) in [(fed.id.clone(), 2), ("other-0000000000000000".to_owned(), 1)] {
        let moved = FlMessage { federation: fid, round: r, ..ad.clone() };
        assert_ne!(moved, ad);
        assert!(matches!(session.submit(moved), Err(FlError::NotParticipant(_))));
    }
    // A flipped signature byte.
    let mut bent = ad.clone();
    bent.signature.replace_range(0..2, if &bent.signature[0..2] == "00" { "01" } else { "00" });
    assert_ne!(bent.signature, ad.signature);
    assert!(matches!(session.submit(bent), Err(FlError::NotParticipant(_))));
    // Nothing refused counted: client 1 can still speak, once.
    session.submit(ad.clone()).unwrap();
    assert!(matches!(session.submit(ad), Err(FlError::BadMessage(_))));

    // Starts: another key than the owner's; a round that does not follow; a model
    // that is not the last round's; another federation's id.
    let mut s = start.start.clone();
    s.stage_timeout_ms += 1;
    let unsigned = SignedRoundStart { start: s, signature: start.signature.clone() };
    assert!(matches!(Session::open(unsigned, global.clone(), None), Err(FlError::BadRound(_))));
    let impostor = sign_start(&key(77), start.start.clone()).unwrap();
    assert!(matches!(Session::open(impostor, global.clone(), None), Err(FlError::BadRound(_))));
    let last = LastRound { round: 1, global_root: veil_fl::jcs_root(&global).unwrap() };
    assert!(matches!(
        Session::open(fed.start(1, &global, &spec), global.clone(), Some(&last)),
        Err(FlError::BadRound(_))
    ));
    let other_model = LrModel { bias: 1.0, ..global.clone() };
    assert!(matches!(
        Session::open(fed.start(2, &other_model, &spec), other_model.clone(), Some(&last)),
        Err(FlError::BadRound(_))
    ));
    // A model other than the one the start names by root (what the aggregator opened
    // from a sealed copy someone swapped).
    assert!(matches!(
        Session::open(fed.start(2, &global, &spec), other_model.clone(), Some(&last)),
        Err(FlError::BadRound(_))
    ));
    assert!(Session::open(fed.start(2, &global, &spec), global.clone(), Some(&last)).is_ok());
    let mut wrong_id = start.start.clone();
    wrong_id.config.federation = federation_id("wdbc", &key(77).verifying_key()).unwrap();
    assert!(matches!(
        Session::open(sign_start(&fed.owner, wrong_id).unwrap(), global.clone(), None),
        Err(FlError::BadRound(_))
    ));

    // A client refuses a start signed by someone else, or one for another federation
    // name, or one that lists another key for it.
    let impostor = sign_start(&key(77), start.start.clone()).unwrap();
    assert!(Participant::join(fed.clients[0].clone(), 1, &owner, "wdbc", impostor).is_err());
    assert!(Participant::join(fed.clients[0].clone(), 1, &owner, "other", start.clone()).is_err());
    assert!(matches!(
        Participant::join(fed.clients[1].clone(), 1, &owner, "wdbc", start.clone()),
        Err(FlError::NotParticipant(_))
    ));
}

/// An aggregator that swaps a client's advertised keys for its own (to read the
/// shares sent to that client) is caught by every peer: the roster entry is not
/// signed by the key the owner listed.
#[test]
fn a_client_refuses_a_roster_with_keys_its_owner_did_not_list() {
    let d = data();
    let spec = spec(&d, 1);
    let fed = Fed::new(3);
    let (mut session, mut parts) = advertised(&fed, &spec);
    session.advance();
    let Some(veil_protocol::fl::StageInput::ShareKeys(mut roster)) = session.input_for(1) else { panic!() };
    let FlBody::Advertise(a) = &mut roster[1].body else { panic!() };
    let before = a.enc_key;
    a.enc_key = [9; 32];
    assert_ne!(a.enc_key, before);
    let got = parts[0].answer(veil_protocol::fl::StageInput::ShareKeys(roster), &[0.0; 31], 1);
    assert!(matches!(got, Err(FlError::NotParticipant(_))), "{got:?}");
}

/// A wrong-dimension update counts as a dropout and the round goes on; when too few
/// are left the round aborts and says why.
#[test]
fn a_bad_update_is_a_dropout_and_too_few_clients_abort() {
    let d = data();
    let spec = spec(&d, 1);
    let fed = Fed::new(3);
    let (mut session, mut parts) = advertised(&fed, &spec);
    session.advance();
    for (i, p) in parts.iter_mut().enumerate() {
        let input = session.input_for(i as u32 + 1).unwrap();
        session.submit(p.answer(input, &[], 1).unwrap()).unwrap();
    }
    assert_eq!(session.advance(), Stage::Masked);
    // Client 3 masks a vector one word short (a client that does not run our code).
    for (i, p) in parts.iter_mut().enumerate() {
        let me = i as u32 + 1;
        let input = session.input_for(me).unwrap();
        let mut m = p.answer(input, &[0.01; 31], 10).unwrap();
        if me == 3 {
            let FlBody::Masked(masked) = &mut m.body else { panic!() };
            masked.vector.pop();
            m = sign_message(&fed.clients[2], &fed.id, 1, m.body).unwrap();
            assert!(matches!(session.submit(m), Err(FlError::BadMessage(_))));
        } else {
            session.submit(m).unwrap();
        }
    }
    assert_eq!(session.advance(), Stage::Unmask);
    for (i, p) in parts.iter_mut().enumerate().take(2) {
        let input = session.input_for(i as u32 + 1).unwrap();
        session.submit(p.answer(input, &[], 0).unwrap()).unwrap();
    }
    assert_eq!(session.advance(), Stage::Done);
    let f = session.result().unwrap().as_ref().unwrap();
    assert_eq!(f.survivors, [1, 2]);
    assert_eq!(f.dropped, [3]);
    assert!(f.refused[&3].contains("parameters"), "{:?}", f.refused);
    assert!((f.global.bias - 0.01).abs() < 1e-4 && (f.global.weights[0] - 0.01).abs() < 1e-4);

    // Only one client advertises: the round aborts at the roster, saying so.
    let mut session =
        Session::open(fed.start(1, &LrModel::zeros(30), &spec), LrModel::zeros(30), None).unwrap();
    let (_, ad) = Participant::join(
        fed.clients[0].clone(),
        1,
        &fed.owner.verifying_key(),
        "wdbc",
        session.start().clone(),
    )
    .unwrap();
    session.submit(ad).unwrap();
    assert_eq!(session.advance(), Stage::Aborted);
    let e = session.result().unwrap().as_ref().unwrap_err().to_string();
    assert!(e.contains("only 1 clients remain") && e.contains("needs 2"), "{e}");
}
