//! A quantized linear model evaluated on encrypted rows, with its worst-case noise
//! bounded before any evaluation.
//!
//! The bound is a worst case, not an estimate: fhe.rs samples the secret, the
//! encryption randomness and every error from a centred binomial distribution of
//! variance v, so every coefficient lies in `[−2v, 2v]`. A fresh public-key
//! encryption's noise is `e·u + e₁ + e₂·s`, at most `2n·(2v)² + 2v`; a product with a
//! plaintext `p` (coefficients lifted to `[0, t)`) multiplies it by at most `‖p‖₁` and
//! adds at most `f·t²` (`f` nonzero coefficients of `p`) from the scaled message's
//! carry; switching down a modulus divides it and adds at most `(1 + n·2v)/2`.
//! Decryption is exact while the noise stays below `q / (2t)`; we keep a factor of two.

use fhe::bfv::{Ciphertext, Encoding, Plaintext};
use fhe_traits::FheEncoder;

use crate::wire::{Answer, Query, rows_per_ciphertext};
use crate::{FheError, ParamSet, Result};

/// fhe.rs's default error variance (`BfvParametersBuilder`), which [`ParamSet`] keeps.
const VARIANCE: f64 = 10.0;

/// A dense layer in int8: `outputs[o] = bias[o] + Σᵢ weights[i·outputs + o] · x[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearLayer {
    /// Features per row.
    pub inputs: usize,
    /// Outputs per row.
    pub outputs: usize,
    /// `inputs × outputs`, row-major, each in `−127..=127`.
    pub weights: Vec<i8>,
    /// Per output, in accumulator units.
    pub bias: Vec<i32>,
}

/// A linear model ready to evaluate on queries under one parameter set.
pub struct FheLinear {
    set: ParamSet,
    features: usize,
    weights: Vec<Plaintext>,
    bias: Vec<Plaintext>,
    level: usize,
    noise_bits: f64,
}

impl std::fmt::Debug for FheLinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FheLinear")
            .field("set", &self.set)
            .field("features", &self.features)
            .field("outputs", &self.weights.len())
            .field("level", &self.level)
            .field("noise_bits", &self.noise_bits)
            .finish()
    }
}

impl FheLinear {
    /// Prepare `layer` under `set`, or refuse it when the set cannot evaluate it
    /// exactly: accumulators that could reach `t / 2`, or noise that could reach what
    /// decryption tolerates.
    pub fn new(set: &ParamSet, layer: &LinearLayer) -> Result<Self> {
        let LinearLayer { inputs: f, outputs, weights, bias } = layer;
        let (f, outputs) = (*f, *outputs);
        if f == 0 || outputs == 0 || weights.len() != f * outputs || bias.len() != outputs {
            return Err(FheError::Shape(format!(
                "{f} inputs × {outputs} outputs with {} weights and {} biases",
                weights.len(),
                bias.len()
            )));
        }
        if f > set.degree() {
            return Err(FheError::Shape(format!("{f} features exceed the ring degree {}", set.degree())));
        }
        if weights.contains(&i8::MIN) {
            return Err(FheError::Shape("int8 weights must be in -127..=127".into()));
        }
        let t = set.plaintext_modulus();
        let column = |o: usize| (0..f).map(move |i| i64::from(weights[i * outputs + o]));
        for (o, b) in bias.iter().enumerate() {
            let reach = i64::from(*b).abs() + 127 * column(o).map(i64::abs).sum::<i64>();
            if 2 * reach as u128 >= u128::from(t) {
                return Err(FheError::Budget(format!(
                    "output {o} can reach ±{reach}, which does not fit the plaintext modulus {t}"
                )));
            }
        }
        // Worst-case noise at level 0 after the product, over every output.
        let n = set.degree() as f64;
        let b = 2.0 * VARIANCE;
        let fresh = 2.0 * n * b * b + b;
        let l1 =
            |o: usize| column(o).map(|w| if w < 0 { t as f64 + w as f64 } else { w as f64 }).sum::<f64>();
        let worst = (0..outputs).map(l1).fold(0.0, f64::max);
        let mut noise = fresh * worst + f as f64 * (t as f64) * (t as f64);
        let fits =
            |noise: f64, level: usize| noise.log2() + 1.0 < set.log2_q(level) - (t as f64).log2() - 1.0;
        if !fits(noise, 0) {
            return Err(FheError::Budget(format!(
                "worst-case noise 2^{:.1} exceeds the budget 2^{:.1} of {}",
                noise.log2(),
                set.log2_q(0) - (t as f64).log2() - 2.0,
                set.name()
            )));
        }
        // Answers travel at the deepest level whose budget still holds: smaller.
        let mut level = 0;
        while level < set.max_level() {
            let next = noise * 2f64.powf(set.log2_q(level + 1) - set.log2_q(level)) + (1.0 + n * b) / 2.0;
            if !fits(next, level + 1) {
                break;
            }
            (noise, level) = (next, level + 1);
        }
        let per = rows_per_ciphertext(set, f);
        let encode = |coeffs: &[i64]| Plaintext::try_encode(coeffs, Encoding::poly(), set.bfv());
        let weights = (0..outputs)
            .map(|o| {
                let mut reversed: Vec<i64> = column(o).collect();
                reversed.reverse();
                encode(&reversed)
            })
            .collect::<fhe::Result<Vec<_>>>()?;
        let bias = (0..outputs)
            .map(|o| {
                let mut coeffs = vec![0i64; per * f];
                (0..per).for_each(|j| coeffs[j * f + f - 1] = i64::from(bias[o]));
                encode(&coeffs)
            })
            .collect::<fhe::Result<Vec<_>>>()?;
        Ok(Self { set: set.clone(), features: f, weights, bias, level, noise_bits: noise.log2() })
    }

    /// Features per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.weights.len()
    }

    /// The level answers are returned at.
    pub fn answer_level(&self) -> usize {
        self.level
    }

    /// log₂ of the worst-case noise in an answer.
    pub fn noise_bits(&self) -> f64 {
        self.noise_bits
    }

    /// The model on every row of `query`; the answer decrypts only under the query's key.
    pub fn evaluate(&self, query: &Query) -> Result<Answer> {
        if query.set.hash() != self.set.hash() {
            return Err(FheError::Params { expected: self.set.hash_hex(), found: query.set.hash_hex() });
        }
        if !query.set.same_instance(&self.set) {
            return Err(FheError::Format(
                "the query was decoded under another instance of the parameter set".into(),
            ));
        }
        if query.features != self.features {
            return Err(FheError::Shape(format!(
                "the model takes {} features per row; the query holds {}",
                self.features, query.features
            )));
        }
        let mut cts = Vec::with_capacity(query.cts.len() * self.weights.len());
        for ct in &query.cts {
            for (w, b) in self.weights.iter().zip(&self.bias) {
                let mut out: Ciphertext = &(ct * w) + b;
                out.switch_to_level(self.level)?;
                cts.push(out);
            }
        }
        Ok(Answer {
            set: self.set.clone(),
            features: self.features,
            rows: query.rows,
            outputs: self.weights.len(),
            level: self.level,
            cts,
        })
    }
}
