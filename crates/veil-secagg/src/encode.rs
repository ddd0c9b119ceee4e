//! Fixed-point updates mod 2³².
//!
//! A client with weight n (its sample count, at most `max_weight`) and update x sends,
//! for each parameter, `round(x · (n / max_weight) · 2^scale_bits)` as a two's-complement
//! 32-bit word, and then its weight `round((n / max_weight) · 2^scale_bits)`. The sum of
//! those words over the survivors is the weighted sum and the total weight at the same
//! scale; their quotient is the weighted mean (FedAvg), whatever the scale.
//!
//! No wrap-around: a parameter must lie in ±clip (a value beyond it is refused, not
//! clipped), so each word is at most clip · 2^scale_bits in magnitude and the sum over
//! n clients at most n · clip · 2^scale_bits, which [`check`] requires to be below
//! 2³¹ when the round is configured. Resolution: 2^-scale_bits of a full-weight
//! client's value.

use crate::{RoundConfig, SecAggError};

/// Shamir over GF(2⁸) gives each participant a distinct non-zero byte as its x.
pub const MAX_PARTICIPANTS: usize = 255;
/// The largest update a round takes (64 Mi parameters: 256 MiB of masked words).
pub const MAX_DIM: u32 = 1 << 26;

/// Check a round's configuration; every party does before taking part.
pub fn check(cfg: &RoundConfig) -> Result<(), SecAggError> {
    let bad = |m: String| Err(SecAggError::Config(m));
    let n = cfg.participants.len();
    if !(2..=MAX_PARTICIPANTS).contains(&n) {
        return bad(format!("{n} participants; a round takes 2 to {MAX_PARTICIPANTS}"));
    }
    let mut ids = cfg.participants.clone();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != n {
        return bad("a participant is listed twice".into());
    }
    // Below n/2 + 1, a split roster could have two disjoint halves each reconstruct.
    if (cfg.threshold as usize) < n / 2 + 1 || cfg.threshold as usize > n {
        return bad(format!(
            "threshold {} for {n} participants; it must be in {}..={n}",
            cfg.threshold,
            n / 2 + 1
        ));
    }
    if cfg.dim == 0 || cfg.dim > MAX_DIM {
        return bad(format!("dimension {}; a round takes 1 to {MAX_DIM}", cfg.dim));
    }
    if !(cfg.clip.is_finite() && cfg.clip > 0.0) {
        return bad(format!("clip {} is not a positive number", cfg.clip));
    }
    if !(1..=30).contains(&cfg.scale_bits) {
        return bad(format!("scale_bits {}; it must be in 1..=30", cfg.scale_bits));
    }
    if cfg.max_weight == 0 {
        return bad("max_weight is 0".into());
    }
    let bound = n as f64 * f64::from(cfg.clip).max(1.0) * f64::from(cfg.scale_bits).exp2();
    if bound >= f64::from(i32::MAX) {
        return bad(format!(
            "{n} clients × clip {} × 2^{} can reach {bound:.3e}, past 2^31: lower the clip or scale_bits",
            cfg.clip, cfg.scale_bits
        ));
    }
    Ok(())
}

/// A client's update and weight as the words it masks (`dim + 1` of them).
pub fn encode(cfg: &RoundConfig, update: &[f32], weight: u64) -> Result<Vec<u32>, SecAggError> {
    if update.len() != cfg.dim as usize {
        return Err(SecAggError::Dimension { got: update.len(), want: cfg.dim as usize });
    }
    if weight == 0 || weight > cfg.max_weight {
        return Err(SecAggError::Weight { weight, max: cfg.max_weight });
    }
    let w = weight as f64 / cfg.max_weight as f64 * f64::from(cfg.scale_bits).exp2();
    let mut out = Vec::with_capacity(update.len() + 1);
    for (index, &x) in update.iter().enumerate() {
        if !x.is_finite() {
            return Err(SecAggError::NonFinite { index });
        }
        if x.abs() > cfg.clip {
            return Err(SecAggError::OutOfRange { index, value: x, clip: cfg.clip });
        }
        out.push(word((f64::from(x) * w).round()));
    }
    out.push(word(w.round()));
    Ok(out)
}

/// Two's complement: the checks above keep |v| < 2³¹.
fn word(v: f64) -> u32 {
    (v as i64 as i32) as u32
}

/// The weighted mean from the unmasked sum (`dim + 1` words), and the total weight
/// as a fraction of `max_weight`.
pub fn decode(cfg: &RoundConfig, sum: &[u32]) -> Result<(Vec<f32>, f64), SecAggError> {
    let Some((&total, values)) = sum.split_last() else {
        return Err(SecAggError::Dimension { got: 0, want: cfg.dim as usize + 1 });
    };
    let total = f64::from(total as i32);
    if total <= 0.0 {
        return Err(SecAggError::Config("the unmasked total weight is not positive".into()));
    }
    let mean = values.iter().map(|&v| (f64::from(v as i32) / total) as f32).collect();
    Ok((mean, total / f64::from(cfg.scale_bits).exp2()))
}
