//! A federated round under a hostile network: whatever JSON arrives as client
//! messages, round starts or the aggregator's stage inputs, nothing panics; a message
//! or start nobody listed signed is refused before it touches the round (the honest
//! clients still finish it), and an honest client never answers a roster whose keys
//! its owner did not list.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use veil_fl::{FlError, Participant, Session, federation_id, sign_start};
use veil_protocol::fl::{FlMessage, LrModel, RoundStart, SignedRoundStart, Stage, StageInput, TrainSpec};
use veil_secagg::RoundConfig;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Attack {
    messages: Vec<FlMessage>,
    start: Option<SignedRoundStart>,
    input: Option<StageInput>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(attack) = serde_json::from_slice::<Attack>(data) else { return };
    if let Some(s) = attack.start {
        assert!(
            Session::open(s, LrModel::zeros(2), None).is_err(),
            "a start nobody listed signed opened a round"
        );
    }
    let owner = SigningKey::from_bytes(&[7; 32]);
    let keys: Vec<SigningKey> = (1..=3u8).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
    let fed = federation_id("fuzz", &owner.verifying_key()).expect("name");
    let start = RoundStart {
        name: "fuzz".into(),
        owner: hex::encode(owner.verifying_key().as_bytes()),
        config: RoundConfig {
            federation: fed,
            round: 1,
            participants: vec![1, 2, 3],
            threshold: 2,
            dim: 3,
            clip: 4.0,
            scale_bits: 16,
            max_weight: 100,
        },
        clients: (1..=3u32)
            .map(|c| (c, hex::encode(keys[c as usize - 1].verifying_key().as_bytes())))
            .collect(),
        spec: TrainSpec {
            epochs: 1,
            learning_rate: 1.0,
            l2: 0.0,
            feature_min: vec![0.0; 2],
            feature_max: vec![1.0; 2],
        },
        global_root: veil_fl::jcs_root(&LrModel::zeros(2)).expect("root"),
        global_sealed: String::new(),
        model_key: String::new(),
        stage_timeout_ms: 1,
        registry: None,
    };
    let signed = sign_start(&owner, start).expect("sign");
    let mut session = Session::open(signed.clone(), LrModel::zeros(2), None).expect("open");
    let mut parts = Vec::new();
    for (i, k) in keys.iter().take(2).enumerate() {
        let (p, ad) =
            Participant::join(k.clone(), i as u32 + 1, &owner.verifying_key(), "fuzz", signed.clone())
                .expect("join");
        session.submit(ad).expect("advertise");
        parts.push(p);
    }
    let inject = |session: &mut Session| {
        for m in &attack.messages {
            let r = session.submit(m.clone());
            assert!(
                matches!(r, Err(FlError::NotParticipant(_))),
                "a forged message was not refused first: {r:?}"
            );
        }
    };
    inject(&mut session);
    if let Some(input) = &attack.input
        && let StageInput::ShareKeys(roster) = input
        && roster.iter().any(|m| m.body.client() == 3 || m.signature.len() != 128)
    {
        let mut p = Participant::join(keys[0].clone(), 1, &owner.verifying_key(), "fuzz", signed.clone())
            .expect("join")
            .0;
        assert!(p.answer(input.clone(), &[0.0; 3], 1).is_err(), "answered a roster nobody listed signed");
    }
    for _ in 0..3 {
        session.advance();
        inject(&mut session);
        for p in parts.iter_mut() {
            if let Some(input) = session.input_for(p.id()) {
                let m = p.answer(input, &[0.5, -0.5, 0.25], 10).expect("honest answer");
                session.submit(m).expect("honest message");
            }
        }
    }
    assert_eq!(session.advance(), Stage::Done, "{:?}", session.result());
});
