//! A secure-aggregation round with one hostile party: whatever messages (JSON) it
//! injects at each stage — as client 3, or in place of the aggregator's inbox and
//! unmask request to honest client 1 — nothing panics, client 1 never reveals both
//! secrets of one client, and a round that finishes has only honest-sized output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use veil_secagg::{
    Advertise, Aggregator, Client, Masked, Reveal, RoundConfig, SealedShares, ShareKeys, UnmaskRequest,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Attack {
    advertise: Option<Advertise>,
    share_keys: Option<ShareKeys>,
    inbox: Option<Vec<SealedShares>>,
    masked: Option<Masked>,
    request: Option<UnmaskRequest>,
    reveal: Option<Reveal>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(attack) = serde_json::from_slice::<Attack>(data) else { return };
    let cfg = RoundConfig {
        federation: "fuzz".into(),
        round: 1,
        participants: vec![1, 2, 3],
        threshold: 2,
        dim: 4,
        clip: 1.0,
        scale_bits: 8,
        max_weight: 10,
    };
    let mut agg = Aggregator::new(&cfg).expect("config");
    let mut honest = Vec::new();
    for c in [1, 2] {
        let (client, ad) = Client::new(&cfg, c).expect("client");
        agg.advertise(ad).expect("advertise");
        honest.push(client);
    }
    if let Some(a) = attack.advertise {
        let _ = agg.advertise(a);
    }
    let Ok(roster) = agg.roster() else { return };
    for client in &mut honest {
        let Ok(s) = client.share_keys(&roster) else { return };
        let _ = agg.share_keys(s);
    }
    if let Some(s) = attack.share_keys {
        let _ = agg.share_keys(s);
    }
    let Ok(inboxes) = agg.inboxes() else { return };
    for (i, client) in honest.iter_mut().enumerate() {
        let c = i as u32 + 1;
        let inbox = match (&attack.inbox, c) {
            (Some(forged), 1) => forged.clone(),
            _ => inboxes.get(&c).cloned().unwrap_or_default(),
        };
        if let Ok(m) = client.masked(&inbox, &[0.5, -0.5, 0.25, 0.0], 5) {
            let _ = agg.masked(m);
        }
    }
    if let Some(m) = attack.masked {
        let _ = agg.masked(m);
    }
    let Ok(req) = agg.unmask_request() else { return };
    for (i, client) in honest.iter_mut().enumerate() {
        let asked = match (&attack.request, i) {
            (Some(forged), 0) => forged.clone(),
            _ => req.clone(),
        };
        if let Ok(r) = client.reveal(&asked) {
            let seeds: Vec<u32> = r.seed_shares.iter().map(|s| s.of).collect();
            assert!(
                r.key_shares.iter().all(|k| !seeds.contains(&k.of)),
                "both secrets of one client revealed"
            );
            let _ = agg.reveal(r);
        }
    }
    if let Some(r) = attack.reveal {
        let _ = agg.reveal(r);
    }
    if let Ok(result) = agg.finish() {
        assert_eq!(result.mean.len(), 4);
        assert!(result.mean.iter().all(|x| x.is_finite()));
    }
});
