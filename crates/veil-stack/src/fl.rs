//! Federated learning's parts that run in the stack. For now: `veil bench secagg`,
//! one secure-aggregation round at a given size in this process, clients one after
//! another on one thread, so each party's time is its CPU time.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use veil_secagg::{Aggregator, Client, RoundConfig, SecAggError};

use crate::{Result, StackError};

/// What `veil bench secagg` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct SecAggBenchOptions {
    /// Clients in the round.
    #[arg(long, default_value_t = 100)]
    pub clients: u32,
    /// Parameters per update.
    #[arg(long, default_value_t = 100_000)]
    pub dim: u32,
    /// The share of clients that drop after sharing their keys (their masks are then
    /// rebuilt by the aggregator).
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f64,
}

fn secagg(e: SecAggError) -> StackError {
    StackError::Config(e.to_string())
}

/// Run one round and report each party's time.
pub fn bench_secagg(o: &SecAggBenchOptions) -> Result<String> {
    let n = o.clients;
    let cfg = RoundConfig {
        federation: "bench".into(),
        round: 1,
        participants: (1..=n).collect(),
        threshold: n / 2 + 1,
        dim: o.dim,
        clip: 1.0,
        scale_bits: 16,
        max_weight: 1000,
    };
    let drop_count = ((f64::from(n) * o.dropout).round() as u32).min(n);
    let dropped: Vec<u32> = (1..=n).rev().take(drop_count as usize).collect();
    let update: Vec<f32> = (0..o.dim).map(|k| ((k % 2001) as f32 - 1000.0) / 1000.0).collect();

    let mut agg_time = Duration::ZERO;
    let mut client_time = vec![Duration::ZERO; n as usize];
    let timed = |acc: &mut Duration, start: Instant| *acc += start.elapsed();

    let t = Instant::now();
    let mut agg = Aggregator::new(&cfg).map_err(secagg)?;
    timed(&mut agg_time, t);
    let mut clients = Vec::new();
    for c in 1..=n {
        let t = Instant::now();
        let (client, ad) = Client::new(&cfg, c).map_err(secagg)?;
        timed(&mut client_time[c as usize - 1], t);
        let t = Instant::now();
        agg.advertise(ad).map_err(secagg)?;
        timed(&mut agg_time, t);
        clients.push(client);
    }
    let t = Instant::now();
    let roster = agg.roster().map_err(secagg)?;
    timed(&mut agg_time, t);
    for (i, client) in clients.iter_mut().enumerate() {
        let t = Instant::now();
        let shares = client.share_keys(&roster).map_err(secagg)?;
        timed(&mut client_time[i], t);
        let t = Instant::now();
        agg.share_keys(shares).map_err(secagg)?;
        timed(&mut agg_time, t);
    }
    let t = Instant::now();
    let inboxes = agg.inboxes().map_err(secagg)?;
    timed(&mut agg_time, t);
    for (i, client) in clients.iter_mut().enumerate() {
        let c = i as u32 + 1;
        let t = Instant::now();
        let m = client.masked(&inboxes[&c], &update, 500).map_err(secagg)?;
        timed(&mut client_time[i], t);
        if !dropped.contains(&c) {
            let t = Instant::now();
            agg.masked(m).map_err(secagg)?;
            timed(&mut agg_time, t);
        }
    }
    let t = Instant::now();
    let req = agg.unmask_request().map_err(secagg)?;
    timed(&mut agg_time, t);
    for &c in &req.survivors {
        let i = c as usize - 1;
        let t = Instant::now();
        let r = clients[i].reveal(&req).map_err(secagg)?;
        timed(&mut client_time[i], t);
        let t = Instant::now();
        agg.reveal(r).map_err(secagg)?;
        timed(&mut agg_time, t);
    }
    let t = Instant::now();
    let result = agg.finish().map_err(secagg)?;
    let finish = t.elapsed();
    agg_time += finish;
    let worst = result.mean.iter().zip(&update).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);

    let mut masks = vec![0u32; o.dim as usize];
    let t = Instant::now();
    veil_secagg::add_mask(&mut masks, &[7; 32], false);
    let mask_time = t.elapsed();

    client_time.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "secure aggregation: {n} clients × {} parameters, threshold {}, {} dropped after sharing",
        o.dim,
        cfg.threshold,
        result.dropped.len()
    );
    let _ = writeln!(
        out,
        "aggregator CPU per round: {:.1} ms (of which unmasking {:.1} ms)",
        ms(agg_time),
        ms(finish)
    );
    let _ = writeln!(
        out,
        "client CPU per round: median {:.1} ms, max {:.1} ms",
        ms(client_time[client_time.len() / 2]),
        ms(client_time[client_time.len() - 1])
    );
    let _ = writeln!(
        out,
        "one mask of {} words (ChaCha12): {:.2} ms ({:.0} MB/s); upload per client {} KiB",
        o.dim,
        ms(mask_time),
        f64::from(o.dim) * 4.0 / mask_time.as_secs_f64() / 1e6,
        (o.dim as usize + 1) * 4 / 1024
    );
    let _ = writeln!(out, "mean error against the plaintext mean: {worst:.2e}");
    Ok(out)
}
