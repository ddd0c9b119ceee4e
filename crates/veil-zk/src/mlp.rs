//! zkML: "this int8 network, committed to by `M`, maps the input committed to by `I`
//! to the outputs committed to by `O`", bit-exact with the integer forward pass that
//! `veil-model` specifies (quant.rs): dense layers of int8 weights and i32 biases,
//! optional ReLU, and requantisation by a fixed-point multiplier with an arithmetic
//! shift, rounding half toward +∞, clamped to ±127.
//!
//! Public inputs, in order: `M`, `I`, `O`. Two modes share them:
//! - [`WeightMode::Public`]: the weights are constants of the circuit (the verifying
//!   key is per model) and `M` must equal their hash;
//! - [`WeightMode::Private`]: weights, biases and multipliers are witnesses, range
//!   checked and hashed in-circuit into `M`; only the architecture (layer sizes,
//!   ReLUs, shifts) shapes the circuit, so one key serves every model of that shape.
//!
//! Hashes chain circomlib Poseidon with a domain tag (1 model, 2 input, 3 output) so
//! circomlibjs reproduces them:
//!
//! ```text
//! acc = Poseidon(tag, n)                   n = number of elements
//! for each run of 11 elements (the last padded with zeros): acc = Poseidon(acc, e₀ … e₁₀)
//! ```
//!
//! Elements: the model is `[layers]`, then per layer `[inputs, outputs, relu,
//! multiplier, shift]` (0, 0 on the last layer), then per layer its weights
//! (row-major, each stored as the byte `w + 127`) packed 31 bytes to an element
//! little-endian, and its biases (`b + 2³¹` as u32) packed 7 to an element. The input
//! is its int8 values as bytes `x + 127` packed the same way, then a salt. The outputs
//! are each last-layer accumulator plus 2³¹, one per element.

use ark_bn254::Fr;
use ark_ff::Zero;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::FieldVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use serde::{Deserialize, Serialize};

use crate::gadgets::{bits, fr_i128};
use crate::{ZkError, poseidon};

/// The circuit id receipts and the proof server name.
pub const CIRCUIT_ID: &str = "veil/mlp-inference/v1";
/// Most weights a network may have (the circuit grows with them).
pub const MAX_WEIGHTS: usize = 1 << 20;
/// Elements absorbed per chained Poseidon call.
const CHUNK: usize = 11;
const TAG_MODEL: u64 = 1;
const TAG_INPUT: u64 = 2;
const TAG_OUTPUT: u64 = 3;
const BIAS_OFFSET: i128 = 1 << 31;
const BYTES_PER_ELEMENT: usize = 31;
const U32_PER_ELEMENT: usize = 7;

/// One dense layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// `inputs × outputs`, row-major, each in `−127..=127`.
    pub weights: Vec<i8>,
    /// Per output, in accumulator units.
    pub bias: Vec<i32>,
    /// Whether a ReLU follows the accumulation.
    pub relu: bool,
    /// `(multiplier, shift)` to the next layer's int8; absent on the last layer.
    pub requant: Option<(i32, u32)>,
}

/// A chain of dense layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// In order.
    pub layers: Vec<Layer>,
}

/// What the proof keeps private besides the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightMode {
    /// Weights compiled into the circuit.
    Public,
    /// Weights are witnesses bound by the model hash.
    Private,
}

impl WeightMode {
    /// The name receipts and the CLI use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }
}

impl std::str::FromStr for WeightMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Self::Public),
            "private" => Ok(Self::Private),
            _ => Err(format!("{s:?}: the weights are `private` or `public`")),
        }
    }
}

/// Values of one hidden neuron that the witness needs beyond its output.
struct Requantised {
    q: i128,
    r: i128,
    out: i128,
}

fn requantise(z: i128, multiplier: i32, shift: u32) -> Requantised {
    let p = z * i128::from(multiplier) + (1i128 << (shift - 1));
    let q = p.div_euclid(1i128 << shift);
    Requantised { q, r: p - q * (1i128 << shift), out: q.clamp(-127, 127) }
}

/// Half-width of the clamp comparisons for a shift: |q| stays below 2^(63 − shift)
/// when |z| < 2³² and the multiplier < 2³¹, and 128 must fit too.
fn clamp_bits(shift: u32) -> usize {
    (64usize.saturating_sub(shift as usize)).max(9)
}

impl Network {
    /// Check shapes, ranges and that no accumulator can leave i32.
    pub fn check(&self) -> Result<(), ZkError> {
        let bad = |m: String| Err(ZkError::Input(m));
        if self.layers.is_empty() {
            return bad("a network needs at least one layer".into());
        }
        let mut total = 0usize;
        for (k, l) in self.layers.iter().enumerate() {
            let last = k + 1 == self.layers.len();
            if l.inputs == 0 || l.outputs == 0 {
                return bad(format!("layer {k} is empty"));
            }
            total = total.saturating_add(l.inputs.saturating_mul(l.outputs));
            if total > MAX_WEIGHTS {
                return bad(format!("more than {MAX_WEIGHTS} weights"));
            }
            if l.weights.len() != l.inputs * l.outputs || l.bias.len() != l.outputs {
                return bad(format!("layer {k}: weight or bias count does not match its shape"));
            }
            if k > 0 && self.layers[k - 1].outputs != l.inputs {
                return bad(format!("layer {k} does not take the previous layer's outputs"));
            }
            if l.weights.contains(&i8::MIN) {
                return bad(format!("layer {k}: weights must be in -127..=127"));
            }
            match (l.requant, last) {
                (None, true) => {}
                (Some((m, s)), false) => {
                    if m < 1 << 30 || !(1..=62).contains(&s) {
                        return bad(format!(
                            "layer {k}: multiplier must be in [2^30, 2^31) and shift in 1..=62"
                        ));
                    }
                }
                (Some(_), true) => return bad("the last layer has no requantisation".into()),
                (None, false) => return bad(format!("hidden layer {k} needs a requantisation")),
            }
            for j in 0..l.outputs {
                let reach = i64::from(l.bias[j]).abs()
                    + 127 * (0..l.inputs).map(|i| i64::from(l.weights[i * l.outputs + j]).abs()).sum::<i64>();
                if reach >= i64::from(i32::MAX) {
                    return bad(format!("layer {k} output {j} could overflow i32"));
                }
            }
        }
        Ok(())
    }

    /// Features the network takes.
    pub fn features(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    /// Values it returns.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// The integer forward pass: the last layer's accumulators.
    pub fn forward(&self, x: &[i8]) -> Result<Vec<i64>, ZkError> {
        self.check()?;
        self.check_input(x)?;
        let mut act: Vec<i128> = x.iter().map(|v| i128::from(*v)).collect();
        for l in &self.layers {
            let z = l.accumulate(&act);
            act = match l.requant {
                Some((m, s)) => z.iter().map(|v| requantise(*v, m, s).out).collect(),
                None => z,
            };
        }
        Ok(act.into_iter().map(|v| v as i64).collect())
    }

    fn check_input(&self, x: &[i8]) -> Result<(), ZkError> {
        if x.len() != self.features() {
            return Err(ZkError::Input(format!(
                "expected {} int8 features, got {}",
                self.features(),
                x.len()
            )));
        }
        if x.contains(&i8::MIN) {
            return Err(ZkError::Input("int8 features must be in -127..=127".into()));
        }
        Ok(())
    }

    fn header(&self) -> Vec<u64> {
        let mut h = vec![self.layers.len() as u64];
        for l in &self.layers {
            let (m, s) = l.requant.unwrap_or((0, 0));
            h.extend([l.inputs as u64, l.outputs as u64, u64::from(l.relu), m as u64, u64::from(s)]);
        }
        h
    }

    /// `M`, the model commitment.
    pub fn hash(&self) -> Result<Fr, ZkError> {
        self.check()?;
        let mut elems: Vec<Fr> = self.header().into_iter().map(Fr::from).collect();
        for l in &self.layers {
            elems.extend(pack(&byte_values(&l.weights), 8, BYTES_PER_ELEMENT));
            let biases: Vec<u128> = l.bias.iter().map(|b| (i128::from(*b) + BIAS_OFFSET) as u128).collect();
            elems.extend(pack(&biases, 32, U32_PER_ELEMENT));
        }
        chain(TAG_MODEL, &elems)
    }
}

impl Layer {
    /// `bias + Σ act · w`.
    fn pre_activation(&self, act: &[i128]) -> Vec<i128> {
        (0..self.outputs)
            .map(|j| {
                i128::from(self.bias[j])
                    + act
                        .iter()
                        .enumerate()
                        .map(|(i, a)| a * i128::from(self.weights[i * self.outputs + j]))
                        .sum::<i128>()
            })
            .collect()
    }

    /// [`Self::pre_activation`], then ReLU if the layer has one.
    fn accumulate(&self, act: &[i128]) -> Vec<i128> {
        let pre = self.pre_activation(act);
        if self.relu { pre.into_iter().map(|v| v.max(0)).collect() } else { pre }
    }
}

fn byte_values(v: &[i8]) -> Vec<u128> {
    v.iter().map(|w| (i16::from(*w) + 127) as u128).collect()
}

fn pack(values: &[u128], width: u32, per: usize) -> Vec<Fr> {
    values
        .chunks(per)
        .map(|c| c.iter().rev().fold(Fr::zero(), |acc, v| acc * Fr::from(1u128 << width) + Fr::from(*v)))
        .collect()
}

fn pack_var(values: &[FpVar<Fr>], width: u32, per: usize) -> Vec<FpVar<Fr>> {
    values
        .chunks(per)
        .map(|c| {
            c.iter().rev().fold(FpVar::zero(), |acc, v| acc * FpVar::constant(Fr::from(1u128 << width)) + v)
        })
        .collect()
}

/// The tagged Poseidon chain every zkML commitment uses.
pub fn chain(tag: u64, elems: &[Fr]) -> Result<Fr, ZkError> {
    let mut acc = poseidon::hash(&[Fr::from(tag), Fr::from(elems.len() as u64)])?;
    for c in elems.chunks(CHUNK) {
        let mut inputs = vec![acc];
        inputs.extend_from_slice(c);
        inputs.resize(CHUNK + 1, Fr::zero());
        acc = poseidon::hash(&inputs)?;
    }
    Ok(acc)
}

fn chain_var(tag: u64, elems: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut acc =
        poseidon::hash_var(&[FpVar::constant(Fr::from(tag)), FpVar::constant(Fr::from(elems.len() as u64))])?;
    for c in elems.chunks(CHUNK) {
        let mut inputs = vec![acc];
        inputs.extend_from_slice(c);
        inputs.resize(CHUNK + 1, FpVar::zero());
        acc = poseidon::hash_var(&inputs)?;
    }
    Ok(acc)
}

/// `I`, the input commitment.
pub fn input_hash(x: &[i8], salt: Fr) -> Result<Fr, ZkError> {
    let mut elems = pack(&byte_values(x), 8, BYTES_PER_ELEMENT);
    elems.push(salt);
    chain(TAG_INPUT, &elems)
}

/// `O`, the output commitment.
pub fn output_hash(outputs: &[i64]) -> Result<Fr, ZkError> {
    let elems: Vec<Fr> = outputs.iter().map(|v| fr_i128(i128::from(*v) + BIAS_OFFSET)).collect();
    chain(TAG_OUTPUT, &elems)
}

/// The class outputs pick, by `veil-model`'s rule: one output classifies by its sign,
/// several by their first maximum.
pub fn class_of(outputs: &[i64]) -> usize {
    match outputs {
        [z] => usize::from(*z > 0),
        many => {
            many.iter()
                .enumerate()
                .fold((0, i64::MIN), |(bi, bv), (i, v)| if *v > bv { (i, *v) } else { (bi, bv) })
                .0
        }
    }
}

/// A statement and, for the prover, its witness.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The network (in `Private` mode only its architecture shapes the circuit).
    pub network: Network,
    /// Which mode the circuit is in.
    pub mode: WeightMode,
    /// The int8 input.
    pub input: Vec<i8>,
    /// Blinding for the input commitment.
    pub salt: Fr,
}

/// What a proof states, besides the commitments: the outputs it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `[M, I, O]`.
    pub public: Vec<Fr>,
    /// The last layer's accumulators.
    pub outputs: Vec<i64>,
}

impl Inference {
    /// An instance for key generation: the network's shape with a zero input.
    pub fn blank(network: Network, mode: WeightMode) -> Self {
        let input = vec![0; network.features()];
        Self { network, mode, input, salt: Fr::zero() }
    }

    /// Run the network and commit: the public inputs and the outputs.
    pub fn claim(&self) -> Result<Claim, ZkError> {
        let outputs = self.network.forward(&self.input)?;
        Ok(Claim {
            public: vec![self.network.hash()?, input_hash(&self.input, self.salt)?, output_hash(&outputs)?],
            outputs,
        })
    }

    /// The constraints with the public inputs as claimed (which a cheating prover
    /// could choose freely).
    fn synthesize(self, cs: ConstraintSystemRef<Fr>, public: [Fr; 3]) -> Result<(), SynthesisError> {
        let refuse = |_| SynthesisError::Unsatisfiable;
        self.network.check().map_err(refuse)?;
        self.network.check_input(&self.input).map_err(refuse)?;
        let m_pub = FpVar::new_input(cs.clone(), || Ok(public[0]))?;
        let i_pub = FpVar::new_input(cs.clone(), || Ok(public[1]))?;
        let o_pub = FpVar::new_input(cs.clone(), || Ok(public[2]))?;
        let private = self.mode == WeightMode::Private;

        // The input: bytes in [0, 256), features = byte − 127.
        let mut act_vals: Vec<i128> = Vec::with_capacity(self.input.len());
        let mut act_vars: Vec<FpVar<Fr>> = Vec::with_capacity(self.input.len());
        let mut in_bytes = Vec::with_capacity(self.input.len());
        for x in &self.input {
            let (byte, _) = bits(&cs, (i16::from(*x) + 127) as u128, 8)?;
            act_vars.push(&byte - FpVar::constant(Fr::from(127u64)));
            act_vals.push(i128::from(*x));
            in_bytes.push(byte);
        }
        let salt = FpVar::new_witness(cs.clone(), || Ok(self.salt))?;
        let mut elems = pack_var(&in_bytes, 8, BYTES_PER_ELEMENT);
        elems.push(salt);
        chain_var(TAG_INPUT, &elems)?.enforce_equal(&i_pub)?;

        let mut model_header: Vec<FpVar<Fr>> =
            vec![FpVar::constant(Fr::from(self.network.layers.len() as u64))];
        let mut model_body: Vec<FpVar<Fr>> = Vec::new();
        for l in &self.network.layers {
            // Weights and biases: constants, or range-checked witnesses.
            let (w_vars, b_vars): (Vec<FpVar<Fr>>, Vec<FpVar<Fr>>) = if private {
                let mut w_bytes = Vec::with_capacity(l.weights.len());
                for w in &l.weights {
                    w_bytes.push(bits(&cs, (i16::from(*w) + 127) as u128, 8)?.0);
                }
                let mut b_u32 = Vec::with_capacity(l.bias.len());
                for b in &l.bias {
                    b_u32.push(bits(&cs, (i128::from(*b) + BIAS_OFFSET) as u128, 32)?.0);
                }
                model_body.extend(pack_var(&w_bytes, 8, BYTES_PER_ELEMENT));
                model_body.extend(pack_var(&b_u32, 32, U32_PER_ELEMENT));
                (
                    w_bytes.iter().map(|b| b - FpVar::constant(Fr::from(127u64))).collect(),
                    b_u32.iter().map(|b| b - FpVar::constant(fr_i128(BIAS_OFFSET))).collect(),
                )
            } else {
                (
                    l.weights.iter().map(|w| FpVar::constant(fr_i128(i128::from(*w)))).collect(),
                    l.bias.iter().map(|b| FpVar::constant(fr_i128(i128::from(*b)))).collect(),
                )
            };
            let multiplier = match l.requant {
                Some((m, _)) if private => Some(bits(&cs, m as u128, 31)?.0),
                Some((m, _)) => Some(FpVar::constant(Fr::from(m as u64))),
                None => None,
            };
            let (m_const, s_const) = l.requant.unwrap_or((0, 0));
            model_header.extend([
                FpVar::constant(Fr::from(l.inputs as u64)),
                FpVar::constant(Fr::from(l.outputs as u64)),
                FpVar::constant(Fr::from(u64::from(l.relu))),
                multiplier.clone().unwrap_or_else(|| FpVar::constant(Fr::from(m_const as u64))),
                FpVar::constant(Fr::from(u64::from(s_const))),
            ]);

            let pre = l.pre_activation(&act_vals);
            let z_vals = l.accumulate(&act_vals);
            let mut next_vals = Vec::with_capacity(l.outputs);
            let mut next_vars = Vec::with_capacity(l.outputs);
            for j in 0..l.outputs {
                let terms = (0..l.inputs)
                    .map(|i| {
                        let w = &w_vars[i * l.outputs + j];
                        &act_vars[i] * w
                    })
                    .collect::<Vec<_>>();
                let acc: FpVar<Fr> = terms.iter().sum::<FpVar<Fr>>() + &b_vars[j];
                let z = if l.relu {
                    // acc ∈ (−2³², 2³²): the top bit of acc + 2³² says acc ≥ 0.
                    let (shifted, sign) = bits(&cs, u128::try_from(pre[j] + (1i128 << 32)).unwrap_or(0), 33)?;
                    shifted.enforce_equal(&(&acc + FpVar::constant(Fr::from(1u64 << 32))))?;
                    FpVar::from(sign[32].clone()) * &acc
                } else {
                    acc
                };
                match (l.requant, &multiplier) {
                    (Some((m, s)), Some(m_var)) => {
                        let rq = requantise(z_vals[j], m, s);
                        let half = FpVar::constant(Fr::from(1u128 << (s - 1)));
                        let p = &z * m_var + half;
                        let k = clamp_bits(s);
                        let two_k = 1i128 << k;
                        let (r, _) = bits(&cs, u128::try_from(rq.r).unwrap_or(0), s as usize)?;
                        let (hi, hi_bits) =
                            bits(&cs, u128::try_from(rq.q - 128 + two_k).unwrap_or(0), k + 1)?;
                        let (lo, lo_bits) =
                            bits(&cs, u128::try_from(rq.q + 127 + two_k).unwrap_or(0), k + 1)?;
                        let q = &hi - FpVar::constant(fr_i128(two_k - 128));
                        lo.enforce_equal(&(&q + FpVar::constant(fr_i128(127 + two_k))))?;
                        p.enforce_equal(&(&q * FpVar::constant(Fr::from(1u128 << s)) + &r))?;
                        // q ≥ 128 → 127; q < −127 → −127; else q.
                        let c127 = FpVar::constant(Fr::from(127u64));
                        let t = FpVar::from(lo_bits[k].clone()) * (&q + &c127) - &c127;
                        let out = FpVar::from(hi_bits[k].clone()) * (&c127 - &t) + &t;
                        next_vals.push(rq.out);
                        next_vars.push(out);
                    }
                    _ => {
                        next_vals.push(z_vals[j]);
                        next_vars.push(z);
                    }
                }
            }
            act_vals = next_vals;
            act_vars = next_vars;
        }

        // The model commitment: computed in-circuit, or a constant of the circuit.
        if private {
            model_header.extend(model_body);
            chain_var(TAG_MODEL, &model_header)?.enforce_equal(&m_pub)?;
        } else {
            let m = self.network.hash().map_err(refuse)?;
            FpVar::constant(m).enforce_equal(&m_pub)?;
        }
        let offset = FpVar::constant(fr_i128(BIAS_OFFSET));
        let outs: Vec<FpVar<Fr>> = act_vars.iter().map(|v| v + &offset).collect();
        chain_var(TAG_OUTPUT, &outs)?.enforce_equal(&o_pub)?;
        Ok(())
    }
}

impl ConstraintSynthesizer<Fr> for Inference {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let public = self.claim().map(|c| [c.public[0], c.public[1], c.public[2]]).unwrap_or_default();
        self.synthesize(cs, public)
    }
}

/// Where `M` (the model commitment) stands among the public inputs `[M, I, O]`.
pub const PUBLIC_MODEL_COMMITMENT: usize = 0;
/// Where `O` stands among the public inputs `[M, I, O]`.
pub const PUBLIC_OUTPUT_COMMITMENT: usize = 2;

/// Check the result a proof's bearer reports (`{"outputs": [...], "class": k}`)
/// against the public inputs the proof verified with: the outputs must hash to `O`
/// and the class must be the one they pick. This is all a verifier needs to know of
/// the circuit to trust a reported result.
pub fn check_reported_result(public: &[Fr], result: &serde_json::Value) -> Result<(), ZkError> {
    let outputs: Vec<i64> =
        serde_json::from_value(result["outputs"].clone()).map_err(|_| ZkError::Malformed {
            what: "inference result",
            reason: "an inference receipt must carry its outputs".into(),
        })?;
    let committed = public.get(PUBLIC_OUTPUT_COMMITMENT).copied();
    if Some(output_hash(&outputs)?) != committed || result["class"] != serde_json::json!(class_of(&outputs)) {
        return Err(ZkError::False("the reported outputs are not the ones the proof commits to".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;
    use ark_std::rand::rngs::StdRng;
    use ark_std::rand::{Rng, SeedableRng};

    /// 6 → 5 (ReLU) → 3, with weights large enough that requantisation saturates.
    fn net(seed: u64) -> Network {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut layer = |inputs: usize, outputs: usize, relu: bool, requant: Option<(i32, u32)>| Layer {
            inputs,
            outputs,
            weights: (0..inputs * outputs).map(|_| rng.gen_range(-127i8..=127)).collect(),
            bias: (0..outputs).map(|_| rng.gen_range(-20_000..20_000)).collect(),
            relu,
            requant,
        };
        Network { layers: vec![layer(6, 5, true, Some((1_500_000_000, 38))), layer(5, 3, false, None)] }
    }

    fn statement(mode: WeightMode, seed: u64) -> Inference {
        Inference {
            network: net(seed),
            mode,
            input: vec![127, -127, 5, 0, 99, -3],
            salt: Fr::from(0x5a17_u64),
        }
    }

    fn check(c: Inference, public: &[Fr]) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        c.synthesize(cs.clone(), [public[0], public[1], public[2]]).unwrap();
        cs.is_satisfied().unwrap()
    }

    #[test]
    fn true_statements_are_satisfied_in_both_modes_with_saturation_both_ways() {
        let mut saw_high = false;
        let mut saw_low = false;
        let mut saw_inside = false;
        for seed in 0..12 {
            for mode in [WeightMode::Public, WeightMode::Private] {
                let c = statement(mode, seed);
                let claim = c.claim().unwrap();
                assert_eq!(claim.outputs.len(), 3);
                assert!(check(c.clone(), &claim.public), "seed {seed} {mode:?}");
            }
            // Which clamp branches the hidden layer took.
            let c = statement(WeightMode::Public, seed);
            let l = &c.network.layers[0];
            let act: Vec<i128> = c.input.iter().map(|v| i128::from(*v)).collect();
            for z in l.accumulate(&act) {
                let rq = requantise(z, 1_500_000_000, 38);
                saw_high |= rq.q > 127;
                saw_low |= rq.q < -127;
                saw_inside |= (-127..=127).contains(&rq.q);
            }
        }
        assert!(saw_high && saw_inside, "the seeds exercise saturation and the plain path");
        let _ = saw_low; // ReLU keeps the hidden layer non-negative.
    }

    #[test]
    fn a_signed_hidden_layer_saturates_low_too() {
        let mut n = net(3);
        n.layers[0].relu = false;
        let c = Inference {
            network: n,
            mode: WeightMode::Private,
            input: vec![-127, 127, -127, 127, -127, 127],
            salt: Fr::from(1u64),
        };
        let act: Vec<i128> = c.input.iter().map(|v| i128::from(*v)).collect();
        let qs: Vec<i128> = c.network.layers[0]
            .accumulate(&act)
            .into_iter()
            .map(|z| requantise(z, 1_500_000_000, 38).q)
            .collect();
        assert!(qs.iter().any(|q| *q < -127), "{qs:?}");
        let claim = c.claim().unwrap();
        assert!(check(c, &claim.public));
    }

    #[test]
    fn every_public_input_and_every_private_value_is_bound() {
        for mode in [WeightMode::Public, WeightMode::Private] {
            let c = statement(mode, 5);
            let good = c.claim().unwrap().public;
            for i in 0..3 {
                let mut public = good.clone();
                public[i] += Fr::from(1u64);
                assert!(!check(c.clone(), &public), "{mode:?}: public input {i} changed");
            }
            // Another input or salt under the same commitment.
            let mut other = c.clone();
            other.input[2] += 1;
            assert_ne!(other.input, c.input);
            assert!(!check(other, &good), "{mode:?}: input changed");
            let mut other = c.clone();
            other.salt += Fr::from(1u64);
            assert!(!check(other, &good), "{mode:?}: salt changed");
            // A proof for a wrong output: the commitment to outputs + 1.
            let mut outputs = c.claim().unwrap().outputs;
            outputs[1] += 1;
            let mut public = good.clone();
            public[2] = output_hash(&outputs).unwrap();
            assert_ne!(public[2], good[2]);
            assert!(!check(c.clone(), &public), "{mode:?}: wrong output");
            // Another model under the claimed model hash.
            let mut other = c.clone();
            other.network.layers[1].weights[4] = other.network.layers[1].weights[4].wrapping_add(1).max(-127);
            assert_ne!(other.network, c.network);
            let mut public = good.clone();
            public[2] = output_hash(&other.network.forward(&other.input).unwrap()).unwrap();
            assert!(!check(other, &public), "{mode:?}: weight changed under the same model hash");
        }
    }

    #[test]
    fn the_private_circuit_depends_only_on_the_architecture() {
        let count = |c: Inference| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            c.generate_constraints(cs.clone()).unwrap();
            (cs.num_constraints(), cs.num_instance_variables(), cs.num_witness_variables())
        };
        let a = count(Inference::blank(net(1), WeightMode::Private));
        let b = count(Inference::blank(net(2), WeightMode::Private));
        assert_eq!(a, b);
        assert_eq!(a.1, 4, "one plus M, I, O");
        let public = count(Inference::blank(net(1), WeightMode::Public));
        // Constants cost nothing; witnesses cost 8 range bits and a product each.
        let weights: usize = net(1).layers.iter().map(|l| l.weights.len()).sum();
        assert!(a.0 - public.0 >= 9 * weights, "{public:?} vs {a:?}");
    }

    #[test]
    fn bad_networks_and_inputs_are_clear_errors() {
        let mut n = net(1);
        n.layers[0].weights[0] = i8::MIN;
        assert!(matches!(n.check(), Err(ZkError::Input(_))));
        let mut n = net(1);
        n.layers[1].requant = Some((1 << 30, 3));
        assert!(n.check().is_err());
        let mut n = net(1);
        n.layers[0].requant = Some((5, 3));
        assert!(n.check().is_err(), "a multiplier below 2^30");
        let mut n = net(1);
        n.layers[0].bias[0] = i32::MAX;
        assert!(n.check().is_err(), "could overflow");
        let mut n = net(1);
        n.layers[1].inputs = 4;
        assert!(n.check().is_err());
        assert!(Network { layers: vec![] }.check().is_err());
        assert!(net(1).forward(&[0; 5]).is_err());
        assert!(net(1).forward(&[i8::MIN, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn packing_is_little_endian_and_injective_on_bytes() {
        let a = pack(&[1, 2], 8, 31);
        assert_eq!(a, vec![Fr::from(1u64 + 2 * 256)]);
        let b = pack(&(0..40).collect::<Vec<u128>>(), 8, 31);
        assert_eq!(b.len(), 2);
        assert_ne!(input_hash(&[1, 2], Fr::zero()).unwrap(), input_hash(&[2, 1], Fr::zero()).unwrap());
        assert_ne!(output_hash(&[0]).unwrap(), output_hash(&[0, 0]).unwrap(), "the length is hashed");
    }
}
