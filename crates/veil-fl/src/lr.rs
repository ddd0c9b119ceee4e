//! Logistic regression as every party trains and scores it: features scaled to
//! [0, 1] by the spec's published ranges, full-batch gradient descent on the mean log
//! loss plus `l2`/2 · ‖w‖² (the bias is not penalised). Deterministic: the same rows in
//! the same order give the same model bit for bit, on every machine with IEEE f32.

use veil_protocol::fl::{LrModel, TrainSpec};

use crate::FlError;

/// The most local epochs a spec may ask for.
pub const MAX_EPOCHS: u32 = 10_000;

/// Check a spec for `features` features.
pub fn check_spec(spec: &TrainSpec, features: usize) -> Result<(), FlError> {
    let bad = |m: String| Err(FlError::BadRound(format!("training spec: {m}")));
    if spec.feature_min.len() != features || spec.feature_max.len() != features {
        return bad(format!(
            "{} minima and {} maxima for {features} features",
            spec.feature_min.len(),
            spec.feature_max.len()
        ));
    }
    if let Some(i) = (0..features).find(|&i| {
        !(spec.feature_min[i].is_finite() && spec.feature_max[i].is_finite())
            || spec.feature_max[i] <= spec.feature_min[i]
    }) {
        return bad(format!("feature {i}'s range is empty or not finite"));
    }
    if spec.epochs == 0 || spec.epochs > MAX_EPOCHS {
        return bad(format!("{} epochs; 1 to {MAX_EPOCHS}", spec.epochs));
    }
    if !(spec.learning_rate.is_finite() && spec.learning_rate > 0.0) {
        return bad(format!("learning rate {} is not a positive number", spec.learning_rate));
    }
    if !(spec.l2.is_finite() && spec.l2 >= 0.0) {
        return bad(format!("L2 penalty {} is not a non-negative number", spec.l2));
    }
    Ok(())
}

/// `x` scaled by the spec's ranges.
pub fn scale(spec: &TrainSpec, x: &[f32]) -> Vec<f32> {
    x.iter()
        .zip(spec.feature_min.iter().zip(&spec.feature_max))
        .map(|(v, (lo, hi))| (v - lo) / (hi - lo))
        .collect()
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn logit(model: &LrModel, scaled: &[f32]) -> f32 {
    model.weights.iter().zip(scaled).map(|(w, x)| w * x).sum::<f32>() + model.bias
}

/// P(class 1 | x).
pub fn probability(model: &LrModel, spec: &TrainSpec, x: &[f32]) -> f32 {
    sigmoid(logit(model, &scale(spec, x)))
}

/// The share of rows whose predicted class (probability ≥ ½) is their label.
pub fn accuracy(model: &LrModel, spec: &TrainSpec, rows: &[Vec<f32>], labels: &[u8]) -> f64 {
    if rows.is_empty() {
        return 0.0;
    }
    let right =
        rows.iter().zip(labels).filter(|(x, y)| u8::from(probability(model, spec, x) >= 0.5) == **y).count();
    right as f64 / rows.len() as f64
}

/// `spec.epochs` full-batch steps from `start` on `rows` with `labels` (0 or 1).
pub fn train(
    spec: &TrainSpec,
    start: &LrModel,
    rows: &[Vec<f32>],
    labels: &[u8],
) -> Result<LrModel, FlError> {
    check_spec(spec, start.weights.len())?;
    if rows.is_empty() || rows.len() != labels.len() {
        return Err(FlError::Data(format!("{} rows and {} labels", rows.len(), labels.len())));
    }
    if let Some(i) =
        rows.iter().position(|r| r.len() != start.weights.len() || r.iter().any(|v| !v.is_finite()))
    {
        return Err(FlError::Data(format!("row {i} is not {} finite features", start.weights.len())));
    }
    if let Some(i) = labels.iter().position(|&y| y > 1) {
        return Err(FlError::Data(format!("label {i} is not 0 or 1")));
    }
    let scaled: Vec<Vec<f32>> = rows.iter().map(|r| scale(spec, r)).collect();
    let n = rows.len() as f32;
    let mut m = start.clone();
    let mut grad = vec![0f32; m.weights.len()];
    for _ in 0..spec.epochs {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut grad_b = 0f32;
        for (x, &y) in scaled.iter().zip(labels) {
            let err = sigmoid(logit(&m, x)) - f32::from(y);
            for (g, v) in grad.iter_mut().zip(x) {
                *g += err * v;
            }
            grad_b += err;
        }
        for (w, g) in m.weights.iter_mut().zip(&grad) {
            *w -= spec.learning_rate * (g / n + spec.l2 * *w);
        }
        m.bias -= spec.learning_rate * grad_b / n;
    }
    Ok(m)
}

/// The ranges of `rows`' features (what a federation's owner publishes as the spec's
/// scaling when the dataset's documented ranges are not at hand).
pub fn ranges(rows: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let width = rows.first().map_or(0, Vec::len);
    let mut lo = vec![f32::INFINITY; width];
    let mut hi = vec![f32::NEG_INFINITY; width];
    for r in rows {
        for (i, v) in r.iter().enumerate().take(width) {
            lo[i] = lo[i].min(*v);
            hi[i] = hi[i].max(*v);
        }
    }
    (lo, hi)
}
