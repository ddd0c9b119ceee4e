//! Whole rounds in one process: the sums, dropouts, aborts, every refusal, and the
//! aggregator's view checked to hold no single update.

use std::collections::BTreeMap;

use proptest::prelude::*;
use veil_secagg::encode::{check, decode, encode};
use veil_secagg::{
    Advertise, Aggregate, Aggregator, Client, ClientId, Masked, Reveal, RoundConfig, SecAggError,
    UnmaskRequest,
};

fn config(n: u32, t: u32, dim: u32) -> RoundConfig {
    RoundConfig {
        federation: "test-federation".into(),
        round: 1,
        participants: (1..=n).collect(),
        threshold: t,
        dim,
        clip: 8.0,
        scale_bits: 16,
        max_weight: 1000,
    }
}

/// A deterministic update for client `c`.
fn update(c: ClientId, dim: u32) -> Vec<f32> {
    (0..dim).map(|k| ((c * 7919 + k * 104_729) % 16_001) as f32 / 1000.0 - 8.0).collect()
}

fn weight(c: ClientId) -> u64 {
    u64::from(c) * 37 % 1000 + 1
}

/// The weighted mean computed in f64, the reference.
fn reference(cfg: &RoundConfig, who: &[ClientId]) -> Vec<f64> {
    let total: f64 = who.iter().map(|&c| weight(c) as f64).sum();
    (0..cfg.dim as usize)
        .map(|k| {
            who.iter().map(|&c| f64::from(update(c, cfg.dim)[k]) * weight(c) as f64).sum::<f64>() / total
        })
        .collect()
}

/// Everything the aggregator saw, for the privacy test.
#[derive(Default)]
struct View {
    masked: BTreeMap<ClientId, Vec<u32>>,
    reveals: Vec<Reveal>,
    roster: Vec<Advertise>,
    request: Option<UnmaskRequest>,
}

/// Run a round in which `silent_at_share` never share keys and `drop_after_share`
/// share and then send no update.
fn round(
    cfg: &RoundConfig,
    silent_at_share: &[ClientId],
    drop_after_share: &[ClientId],
    view: &mut View,
) -> Result<Aggregate, SecAggError> {
    let mut agg = Aggregator::new(cfg)?;
    let mut clients = BTreeMap::new();
    for &c in &cfg.participants {
        let (client, ad) = Client::new(cfg, c)?;
        agg.advertise(ad)?;
        clients.insert(c, client);
    }
    let roster = agg.roster()?;
    view.roster = roster.clone();
    for (&c, client) in clients.iter_mut() {
        let shares = client.share_keys(&roster)?;
        if !silent_at_share.contains(&c) {
            agg.share_keys(shares)?;
        }
    }
    let inboxes = agg.inboxes()?;
    for (c, inbox) in &inboxes {
        let m = clients.get_mut(c).unwrap().masked(inbox, &update(*c, cfg.dim), weight(*c))?;
        if !drop_after_share.contains(c) {
            view.masked.insert(*c, m.vector.clone());
            agg.masked(m)?;
        }
    }
    let req = agg.unmask_request()?;
    view.request = Some(req.clone());
    for c in &req.survivors {
        let r = clients.get_mut(c).unwrap().reveal(&req)?;
        view.reveals.push(r.clone());
        agg.reveal(r)?;
    }
    agg.finish()
}

fn assert_close(got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((f64::from(*g) - w).abs() <= tol, "parameter {k}: {g} vs {w}");
    }
}

/// Every participant advertises; returns the aggregator and the clients with the roster.
fn advertised(cfg: &RoundConfig) -> (Aggregator, Vec<Client>, Vec<Advertise>) {
    let mut agg = Aggregator::new(cfg).unwrap();
    let mut clients = Vec::new();
    for &c in &cfg.participants {
        let (client, ad) = Client::new(cfg, c).unwrap();
        agg.advertise(ad).unwrap();
        clients.push(client);
    }
    let roster = agg.roster().unwrap();
    (agg, clients, roster)
}

#[test]
fn a_round_yields_the_weighted_mean_of_all_updates() {
    let cfg = config(10, 6, 200);
    let agg = round(&cfg, &[], &[], &mut View::default()).unwrap();
    assert_eq!(agg.survivors, (1..=10).collect::<Vec<_>>());
    assert!(agg.dropped.is_empty());
    assert_close(&agg.mean, &reference(&cfg, &agg.survivors), 1e-3);
    let total: u64 = (1..=10).map(weight).sum();
    assert!((agg.total_weight - total as f64 / 1000.0).abs() < 1e-3);
}

#[test]
fn clients_that_drop_after_sharing_are_recovered_and_those_before_left_out() {
    let cfg = config(10, 6, 100);
    let agg = round(&cfg, &[4], &[2, 9], &mut View::default()).unwrap();
    assert_eq!(agg.survivors, vec![1, 3, 5, 6, 7, 8, 10]);
    assert_eq!(agg.dropped, vec![2, 9]);
    assert_close(&agg.mean, &reference(&cfg, &agg.survivors), 1e-3);
}

#[test]
fn below_the_threshold_the_round_stops_and_says_where() {
    let cfg = config(10, 6, 10);
    let err = round(&cfg, &[], &[1, 2, 3, 4, 5], &mut View::default()).unwrap_err();
    assert_eq!(err, SecAggError::BelowThreshold { have: 5, threshold: 6, stage: "masking" });
    let err = round(&cfg, &[1, 2, 3, 4, 5], &[], &mut View::default()).unwrap_err();
    assert_eq!(err, SecAggError::BelowThreshold { have: 5, threshold: 6, stage: "sharing keys" });
}

/// The aggregator's view: every masked vector, every revealed share, and all it can
/// rebuild from them. For each survivor it removes what it can (its self mask and
/// the masks shared with dropped clients) and what is left still differs from the
/// update in nearly every word and looks uniform — while the sum is exact.
#[test]
fn the_aggregators_view_holds_no_single_update() {
    let cfg = config(6, 4, 4000);
    let mut view = View::default();
    let agg = round(&cfg, &[], &[6], &mut view).unwrap();
    assert_close(&agg.mean, &reference(&cfg, &agg.survivors), 1e-3);

    // What the aggregator can strip from one masked vector: the revealed seed's mask.
    // (Seeds rebuild from revealed shares exactly as `finish` does.)
    let req = view.request.clone().unwrap();
    for &c in &req.survivors {
        let stripped = veil_secagg_test_support::strip_self_mask(&cfg, &view, c);
        let truth = encode(&cfg, &update(c, cfg.dim), weight(c)).unwrap();
        let equal = stripped.iter().zip(&truth).filter(|(a, b)| a == b).count();
        assert!(equal < 5, "client {c}: {equal} of {} words readable", truth.len());
        // The residual (masked − truth) is a sum of ChaCha12 words: uniform mod 2³².
        let mean: f64 = stripped.iter().zip(&truth).map(|(a, b)| f64::from(a.wrapping_sub(*b))).sum::<f64>()
            / truth.len() as f64
            / 2f64.powi(32);
        assert!((mean - 0.5).abs() < 0.02, "client {c}: residual mean {mean}");
    }
}

/// Helpers that act as the aggregator would with what it holds.
mod veil_secagg_test_support {
    use super::*;

    /// Rebuild `c`'s self-mask seed from the revealed shares and remove its mask.
    pub fn strip_self_mask(cfg: &RoundConfig, view: &View, c: ClientId) -> Vec<u32> {
        let shares: Vec<Vec<u8>> = view
            .reveals
            .iter()
            .flat_map(|r| r.seed_shares.iter().filter(|s| s.of == c).map(|s| s.share.clone()))
            .collect();
        assert!(shares.len() >= cfg.threshold as usize);
        let seed: [u8; 32] = vsss_rs_combine(&shares);
        let mut v = view.masked[&c].clone();
        veil_secagg::add_mask(&mut v, &seed, true);
        v
    }

    fn vsss_rs_combine(shares: &[Vec<u8>]) -> [u8; 32] {
        // Lagrange at 0 over GF(2^8) (AES polynomial), byte by byte: an independent
        // reconstruction, not the crate's.
        let mul = |mut a: u8, mut b: u8| {
            let mut p = 0u8;
            while b != 0 {
                if b & 1 != 0 {
                    p ^= a;
                }
                let hi = a & 0x80;
                a <<= 1;
                if hi != 0 {
                    a ^= 0x1b;
                }
                b >>= 1;
            }
            p
        };
        let inv = |a: u8| (0..=255u8).find(|&b| mul(a, b) == 1).unwrap();
        let xs: Vec<u8> = shares.iter().map(|s| s[0]).collect();
        let mut out = [0u8; 32];
        for (byte, o) in out.iter_mut().enumerate() {
            let mut acc = 0u8;
            for (i, s) in shares.iter().enumerate() {
                let mut l = 1u8;
                for (j, &xj) in xs.iter().enumerate() {
                    if i != j {
                        l = mul(l, mul(xj, inv(xj ^ xs[i])));
                    }
                }
                acc ^= mul(s[1 + byte], l);
            }
            *o = acc;
        }
        out
    }
}

#[test]
fn a_client_reveals_once_and_never_both_secrets_of_one_client() {
    let cfg = config(5, 3, 4);
    let (mut agg, mut clients, roster) = advertised(&cfg);
    for client in &mut clients {
        agg.share_keys(client.share_keys(&roster).unwrap()).unwrap();
    }
    let inboxes = agg.inboxes().unwrap();
    for (i, client) in clients.iter_mut().enumerate() {
        let c = i as u32 + 1;
        let m = client.masked(&inboxes[&c], &update(c, 4), 10).unwrap();
        if c != 5 {
            agg.masked(m).unwrap();
        }
    }
    let split = UnmaskRequest { survivors: vec![1, 2, 3, 4, 5], dropped: vec![5] };
    assert_eq!(clients[0].reveal(&split).unwrap_err(), SecAggError::BothRevealed(5));
    let req = agg.unmask_request().unwrap();
    assert_eq!(req.dropped, vec![5]);
    clients[0].reveal(&req).unwrap();
    // Asked again, with 5 now called a survivor: refused, whatever the split.
    let other = UnmaskRequest { survivors: vec![1, 2, 3, 5], dropped: vec![4] };
    assert!(matches!(clients[0].reveal(&other), Err(SecAggError::Stage(_))));
    // Client 5 reappears with its update after being declared dropped: too late.
    let late = Masked { client: 5, vector: vec![0; 5] };
    assert!(matches!(agg.masked(late), Err(SecAggError::Stage(_))));
}

#[test]
fn tampered_shares_name_who_tampered() {
    let cfg = config(4, 3, 8);
    let (mut agg, mut clients, roster) = advertised(&cfg);
    for client in &mut clients {
        agg.share_keys(client.share_keys(&roster).unwrap()).unwrap();
    }
    let mut inboxes = agg.inboxes().unwrap();
    // A bundle altered in transit: its recipient names the sender.
    let mut bad = inboxes[&1].clone();
    let before = bad[0].ciphertext.clone();
    bad[0].ciphertext[0] ^= 1;
    assert_ne!(bad[0].ciphertext, before);
    let from = bad[0].from;
    assert_eq!(
        clients[0].masked(&bad, &update(1, 8), 5).unwrap_err(),
        SecAggError::BadShare { offender: from, of: from }
    );
    for (i, client) in clients.iter_mut().enumerate().skip(1) {
        let c = i as u32 + 1;
        agg.masked(client.masked(&inboxes.remove(&c).unwrap(), &update(c, 8), 5).unwrap()).unwrap();
    }
    let req = agg.unmask_request().unwrap();
    assert_eq!(req.survivors, vec![2, 3, 4]);
    let mut r = clients[1].reveal(&req).unwrap();
    r.seed_shares[2].share[5] ^= 0x40;
    assert_eq!(agg.reveal(r).unwrap_err(), SecAggError::BadShare { offender: 2, of: 4 });
}

#[test]
fn bad_updates_and_messages_are_refused_with_reasons() {
    let cfg = config(3, 2, 4);
    assert_eq!(encode(&cfg, &[0.0; 3], 1).unwrap_err(), SecAggError::Dimension { got: 3, want: 4 });
    assert_eq!(encode(&cfg, &[0.0, f32::NAN, 0.0, 0.0], 1).unwrap_err(), SecAggError::NonFinite { index: 1 });
    assert_eq!(
        encode(&cfg, &[0.0, 0.0, 8.5, 0.0], 1).unwrap_err(),
        SecAggError::OutOfRange { index: 2, value: 8.5, clip: 8.0 }
    );
    assert_eq!(encode(&cfg, &[0.0; 4], 0).unwrap_err(), SecAggError::Weight { weight: 0, max: 1000 });
    assert_eq!(encode(&cfg, &[0.0; 4], 1001).unwrap_err(), SecAggError::Weight { weight: 1001, max: 1000 });

    // Configurations whose sums could wrap, or whose threshold lets halves split.
    let mut wide = config(200, 150, 4);
    wide.scale_bits = 24;
    assert!(matches!(check(&wide), Err(SecAggError::Config(m)) if m.contains("past 2^31")));
    assert!(matches!(check(&config(10, 5, 4)), Err(SecAggError::Config(m)) if m.contains("threshold")));
    assert!(matches!(Client::new(&cfg, 9), Err(SecAggError::NotInRound(9))));

    let mut agg = Aggregator::new(&cfg).unwrap();
    let (mut c1, a1) = Client::new(&cfg, 1).unwrap();
    let (_c2, a2) = Client::new(&cfg, 2).unwrap();
    agg.advertise(a1.clone()).unwrap();
    assert_eq!(agg.advertise(a1.clone()).unwrap_err(), SecAggError::Duplicate(1));
    let mut copycat = a2.clone();
    copycat.mask_key = a1.mask_key;
    assert!(matches!(agg.advertise(copycat), Err(SecAggError::Malformed { client: 2, .. })));
    agg.advertise(a2).unwrap();
    assert!(matches!(agg.masked(Masked { client: 1, vector: vec![0; 5] }), Err(SecAggError::Stage(_))));
    let roster = agg.roster().unwrap();
    let mut shares = c1.share_keys(&roster).unwrap();
    shares.bundles.clear();
    assert!(matches!(agg.share_keys(shares), Err(SecAggError::Malformed { client: 1, .. })));
    assert_eq!(decode(&cfg, &[]).unwrap_err(), SecAggError::Dimension { got: 0, want: 5 });
}

#[test]
fn masks_cancel_in_pairs() {
    let mut v = vec![5u32; 1000];
    veil_secagg::add_mask(&mut v, &[7; 32], false);
    assert!(v.iter().filter(|&&w| w == 5).count() < 3);
    veil_secagg::add_mask(&mut v, &[7; 32], true);
    assert!(v.iter().all(|&w| w == 5));
}

proptest! {
    #[test]
    fn encoding_round_trips_within_its_resolution(
        xs in proptest::collection::vec(-8.0f32..=8.0, 1..50),
        w in 1u64..=1000,
    ) {
        let mut cfg = config(3, 2, xs.len() as u32);
        cfg.dim = xs.len() as u32;
        let words = encode(&cfg, &xs, w).unwrap();
        let (mean, total) = decode(&cfg, &words).unwrap();
        // Value and weight are each rounded to a unit of 1/W (W = w/1000 · 2^16).
        let units = w as f64 / 1000.0 * 65536.0;
        for (a, b) in mean.iter().zip(&xs) {
            let tol = (0.5 + 0.5 * f64::from(b.abs())) / (units - 0.5) + 1e-6;
            prop_assert!((f64::from(*a) - f64::from(*b)).abs() <= tol, "{a} vs {b}");
        }
        prop_assert!((total - w as f64 / 1000.0).abs() < 1e-4);
    }

    #[test]
    fn decoding_never_panics(words in proptest::collection::vec(any::<u32>(), 0..20)) {
        let _ = decode(&config(3, 2, 4), &words);
    }
}

/// A dealer whose shares rebuild something other than what it committed to is named.
#[test]
fn a_dealer_whose_secret_does_not_rebuild_is_named() {
    let cfg = config(3, 2, 4);
    let (mut agg, mut clients, roster) = advertised(&cfg);
    for client in &mut clients {
        let mut shares = client.share_keys(&roster).unwrap();
        if shares.client == 2 {
            shares.seed_commitment[0] ^= 1;
        }
        agg.share_keys(shares).unwrap();
    }
    let inboxes = agg.inboxes().unwrap();
    for (i, client) in clients.iter_mut().enumerate() {
        let c = i as u32 + 1;
        agg.masked(client.masked(&inboxes[&c], &update(c, 4), 5).unwrap()).unwrap();
    }
    let req = agg.unmask_request().unwrap();
    for client in &mut clients {
        agg.reveal(client.reveal(&req).unwrap()).unwrap();
    }
    assert_eq!(agg.finish().unwrap_err(), SecAggError::BadSecret { dealer: 2 });
}
