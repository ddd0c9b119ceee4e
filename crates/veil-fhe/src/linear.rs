//! A quantized linear model evaluated on encrypted rows, with its worst-case noise
//! bounded before any evaluation.
//!
//! The bound is a worst case, not an estimate: fhe.rs samples the secret, the
//! encryption randomness and every error from a centred binomial distribution of
//! variance v, so every coefficient lies in `[−2v, 2v]`. A fresh public-key
//! encryption's noise is `e·u + e₁ + e₂·s`, at most `2n·(2v)² + 2v` (a secret-key
//! encryption's is `e`, at most `2v`; the server cannot tell them apart, so it assumes
//! the larger); a product with a
//! plaintext `p` (coefficients lifted to `[0, t)`) multiplies it by at most `‖p‖₁` and
//! adds at most `f·t²` (`f` nonzero coefficients of `p`) from the scaled message's
//! carry. Decryption is exact while the noise stays below `q / (2t)`; we keep a factor
//! of two. Answers stay at the top level: switching a modulus away would make them a
//! third smaller, but it costs more server time than the rest of the evaluation.

use fhe::bfv::{Ciphertext, Encoding, Plaintext};
use fhe_math::rq::{Poly, Representation};
use fhe_traits::FheEncoder;
use rayon::prelude::*;

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
    bias: Vec<Ciphertext>,
    noise_bits: f64,
}

impl std::fmt::Debug for FheLinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FheLinear")
            .field("set", &self.set)
            .field("features", &self.features)
            .field("outputs", &self.weights.len())
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
        let noise = fresh * worst + f as f64 * (t as f64) * (t as f64);
        if noise.log2() + 1.0 >= set.log2_q(0) - (t as f64).log2() - 1.0 {
            return Err(FheError::Budget(format!(
                "worst-case noise 2^{:.1} exceeds the budget 2^{:.1} of {}",
                noise.log2(),
                set.log2_q(0) - (t as f64).log2() - 2.0,
                set.name()
            )));
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
        // The bias as a noiseless ciphertext (zero plus the plaintext), made once: adding a
        // plaintext scales and transforms it on every call, adding a ciphertext does not.
        let ctx = set.bfv().context_at_level(0)?;
        let zero = Ciphertext::new(vec![Poly::zero(ctx, Representation::Ntt); 2], set.bfv())?;
        let bias = bias
            .iter()
            .map(|b| {
                let mut coeffs = vec![0i64; per * f];
                (0..per).for_each(|j| coeffs[j * f + f - 1] = i64::from(*b));
                Ok(&zero + &encode(&coeffs)?)
            })
            .collect::<fhe::Result<Vec<_>>>()?;
        Ok(Self { set: set.clone(), features: f, weights, bias, noise_bits: noise.log2() })
    }

    /// Features per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.weights.len()
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
        // Ciphertexts are independent: both cores take a share of a large query.
        let cts: Vec<Ciphertext> = query
            .cts
            .par_iter()
            .flat_map_iter(|ct| {
                self.weights.iter().zip(&self.bias).map(move |(w, b)| {
                    let mut out: Ciphertext = ct * w;
                    out += b;
                    out
                })
            })
            .collect();
        Ok(Answer {
            set: self.set.clone(),
            features: self.features,
            rows: query.rows,
            outputs: self.weights.len(),
            level: 0,
            cts,
        })
    }
}
