//! The int8 path: a chain of dense layers (MatMul → Add → optional Relu) quantised
//! with symmetric per-tensor int8 weights, so that inference is integer arithmetic a
//! ZK circuit can reproduce exactly. The arithmetic, which the witness generator must
//! match bit for bit:
//!
//! 1. **Input.** Feature `i` with calibrated scale `s_i`:
//!    `x_q[i] = clamp(round_half_away_from_zero(x[i] / s_i), −127, 127)` (an `i8`;
//!    done by the client, outside any proof). `s_i` is folded into the first layer's
//!    weights, so every feature keeps its resolution whatever its range.
//! 2. **Dense layer.** `acc[j] = bias[j] + Σ_i act[i] · w[i][j]` in `i32`, where
//!    `act` and `w` are `i8` (as `i32`) and `bias` is `i32`. Quantisation refuses any
//!    layer where `|bias[j]| + 127 · Σ_i |w[i][j]|` could reach 2³¹, so this never
//!    overflows.
//! 3. **ReLU** (if the layer has one): `acc[j] = max(acc[j], 0)`.
//! 4. **Requantisation** (every layer but the last):
//!    `act'[j] = clamp((acc[j] · m + 2^(shift−1)) >> shift, −127, 127)`, computed in
//!    `i64` with an arithmetic shift (rounding half toward +∞); `m` is an `i32` in
//!    `[2³⁰, 2³¹)` and `shift` is in `1..=62`.
//! 5. **Output.** The last layer's `acc` (`i32`); its real value is `acc · scale`.
//!    A one-output net classifies by `acc > 0`; otherwise by the first maximum.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tract_onnx::pb::{GraphProto, TensorProto};
use tract_onnx::prelude::Framework;

use crate::ModelError;

/// Step 1 for one feature: `None` when it is not finite; 0 for a feature of scale 0.
pub fn quantize_value(v: f64, scale: f64) -> Option<i8> {
    if !v.is_finite() {
        return None;
    }
    Some(if scale > 0.0 { (v / scale).round().clamp(-127.0, 127.0) as i8 } else { 0 })
}

/// One dense layer in f32, as the ONNX graph holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseF32 {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// `inputs × outputs`, row-major.
    pub weights: Vec<f32>,
    /// `outputs`.
    pub bias: Vec<f32>,
    /// Whether a ReLU follows.
    pub relu: bool,
}

/// The fixed-point multiplier that carries one layer's accumulators to the next
/// layer's int8 scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requant {
    /// In `[2³⁰, 2³¹)`.
    pub multiplier: i32,
    /// In `1..=62`.
    pub shift: u32,
}

impl Requant {
    fn from_real(m: f64) -> Result<Self, ModelError> {
        if !(m.is_finite() && m > 0.0) {
            return Err(ModelError::Unsupported(format!("requantisation factor {m}")));
        }
        // m = frac · 2^exp with frac in [0.5, 1).
        let mut exp = m.log2().floor() as i32 + 1;
        let mut frac = m / 2f64.powi(exp);
        if frac >= 1.0 {
            frac /= 2.0;
            exp += 1;
        }
        let mut q = (frac * 2f64.powi(31)).round() as i64;
        if q == 1 << 31 {
            q = 1 << 30;
            exp += 1;
        }
        let shift = 31 - exp;
        if !(1..=62).contains(&shift) {
            return Err(ModelError::Unsupported(format!("requantisation factor {m} is out of range")));
        }
        Ok(Self { multiplier: q as i32, shift: shift as u32 })
    }

    /// Step 4 of the arithmetic.
    pub fn apply(&self, acc: i32) -> i8 {
        let v = (i64::from(acc) * i64::from(self.multiplier) + (1i64 << (self.shift - 1))) >> self.shift;
        v.clamp(-127, 127) as i8
    }
}

/// One quantised dense layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QLayer {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// `inputs × outputs`, row-major, each in `−127..=127`.
    pub weights: Vec<i8>,
    /// Per output, in accumulator units.
    pub bias: Vec<i32>,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// To the next layer's int8 scale (absent on the last layer).
    pub requant: Option<Requant>,
    /// The real value of one accumulator unit.
    pub scale: f64,
}

/// A quantised network and its input scales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedNet {
    /// Per feature (0 for a feature that never varied in calibration: it is ignored).
    pub input_scales: Vec<f64>,
    /// The layers, in order.
    pub layers: Vec<QLayer>,
}

fn initializer<'a>(graph: &'a GraphProto, name: &str) -> Option<&'a TensorProto> {
    graph.initializer.iter().find(|t| t.name == name)
}

fn floats(t: &TensorProto) -> Result<Vec<f32>, ModelError> {
    if t.data_type != 1 {
        return Err(ModelError::Unsupported(format!("{} is not float32", t.name)));
    }
    if !t.float_data.is_empty() {
        return Ok(t.float_data.clone());
    }
    if !t.raw_data.len().is_multiple_of(4) {
        return Err(ModelError::Unsupported(format!("{} has ragged raw data", t.name)));
    }
    Ok(t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The chain of dense layers that starts at the graph's input, up to the first node
/// that is not MatMul, Add or Relu.
pub fn dense_layers(onnx: &[u8]) -> Result<Vec<DenseF32>, ModelError> {
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &onnx[..])
        .map_err(|e| ModelError::Onnx(format!("{e:#}")))?;
    let graph = proto.graph.ok_or_else(|| ModelError::Unsupported("no graph".into()))?;
    let mut current = graph
        .input
        .iter()
        .find(|i| initializer(&graph, &i.name).is_none())
        .map(|i| i.name.clone())
        .ok_or_else(|| ModelError::Unsupported("no input".into()))?;
    let consumer = |name: &str, op: &str| {
        graph.node.iter().find(|n| n.op_type == op && n.input.first().is_some_and(|i| i == name))
    };
    let mut layers = Vec::new();
    while let Some(matmul) = consumer(&current, "MatMul") {
        let w = matmul
            .input
            .get(1)
            .and_then(|n| initializer(&graph, n))
            .ok_or_else(|| ModelError::Unsupported("MatMul without constant weights".into()))?;
        let [inputs, outputs] = w.dims[..] else {
            return Err(ModelError::Unsupported("weights must be 2-D".into()));
        };
        let (inputs, outputs) = (inputs as usize, outputs as usize);
        let add = consumer(&matmul.output[0], "Add")
            .ok_or_else(|| ModelError::Unsupported("MatMul not followed by a bias Add".into()))?;
        let b = add
            .input
            .get(1)
            .and_then(|n| initializer(&graph, n))
            .ok_or_else(|| ModelError::Unsupported("Add without a constant bias".into()))?;
        let weights = floats(w)?;
        let bias = floats(b)?;
        if weights.len() != inputs * outputs || bias.len() != outputs {
            return Err(ModelError::Unsupported("weight or bias shape mismatch".into()));
        }
        if let Some(prev) = layers.last().map(|l: &DenseF32| l.outputs)
            && prev != inputs
        {
            return Err(ModelError::Unsupported("layer sizes do not chain".into()));
        }
        current = add.output[0].clone();
        let relu = consumer(&current, "Relu");
        if let Some(r) = relu {
            current = r.output[0].clone();
        }
        layers.push(DenseF32 { inputs, outputs, weights, bias, relu: relu.is_some() });
    }
    if layers.is_empty() {
        return Err(ModelError::Unsupported("the input does not feed a MatMul".into()));
    }
    Ok(layers)
}

fn forward_f64(layers: &[DenseF32], x: &[f64], mut visit: impl FnMut(usize, &[f64])) {
    let mut act = x.to_vec();
    for (k, l) in layers.iter().enumerate() {
        let mut out: Vec<f64> = l.bias.iter().map(|b| f64::from(*b)).collect();
        for (i, a) in act.iter().enumerate() {
            for (j, o) in out.iter_mut().enumerate() {
                *o += a * f64::from(l.weights[i * l.outputs + j]);
            }
        }
        if l.relu {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        visit(k, &out);
        act = out;
    }
}

fn quantize_tensor(values: &[f64]) -> (Vec<i8>, f64) {
    let max = values.iter().fold(0f64, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let q = values.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8).collect();
    (q, scale)
}

/// Step 5: the class of a last layer's accumulators (one output: positive is class 1;
/// several: the first largest), however they were computed (in the clear, or
/// decrypted from an FHE answer).
pub fn class_of(acc: &[i64]) -> usize {
    match acc {
        [z] => usize::from(*z > 0),
        many => {
            many.iter()
                .enumerate()
                .fold((0, i64::MIN), |(bi, bv), (i, v)| if *v > bv { (i, *v) } else { (bi, bv) })
                .0
        }
    }
}

impl QuantizedNet {
    /// Quantise `layers`, calibrating input and activation scales on `calibration`
    /// rows (the training split): deterministic for the same inputs.
    pub fn quantize(layers: &[DenseF32], calibration: &[Vec<f32>]) -> Result<Self, ModelError> {
        let features = layers[0].inputs;
        if calibration.is_empty() || calibration.iter().any(|r| r.len() != features) {
            return Err(ModelError::Input(format!("calibration needs rows of {features} features")));
        }
        let mut input_max = vec![0f64; features];
        let mut act_max = vec![0f64; layers.len()];
        for row in calibration {
            let x: Vec<f64> = row.iter().map(|v| f64::from(*v)).collect();
            for (m, v) in input_max.iter_mut().zip(&x) {
                *m = m.max(v.abs());
            }
            forward_f64(layers, &x, |k, out| {
                act_max[k] = out.iter().fold(act_max[k], |m, v| m.max(v.abs()));
            });
        }
        let input_scales: Vec<f64> = input_max.iter().map(|m| m / 127.0).collect();
        let in_scale_of = |i: usize, k: usize, prev_h: f64| if k == 0 { input_scales[i] } else { prev_h };
        let mut out = Vec::new();
        let mut prev_h = 1.0;
        for (k, l) in layers.iter().enumerate() {
            let folded: Vec<f64> = (0..l.inputs * l.outputs)
                .map(|idx| f64::from(l.weights[idx]) * in_scale_of(idx / l.outputs, k, prev_h))
                .collect();
            let (weights, scale) = quantize_tensor(&folded);
            let bias: Vec<i64> = l.bias.iter().map(|b| (f64::from(*b) / scale).round() as i64).collect();
            for j in 0..l.outputs {
                let reach: i64 = bias[j].abs()
                    + 127 * (0..l.inputs).map(|i| i64::from(weights[i * l.outputs + j]).abs()).sum::<i64>();
                if reach >= i64::from(i32::MAX) {
                    return Err(ModelError::Unsupported(format!(
                        "layer {k} output {j} could overflow i32 ({reach})"
                    )));
                }
            }
            let last = k + 1 == layers.len();
            let requant = if last {
                None
            } else {
                let h_scale = if act_max[k] > 0.0 { act_max[k] / 127.0 } else { 1.0 };
                prev_h = h_scale;
                Some(Requant::from_real(scale / h_scale)?)
            };
            out.push(QLayer {
                inputs: l.inputs,
                outputs: l.outputs,
                weights,
                bias: bias.into_iter().map(|b| b as i32).collect(),
                relu: l.relu,
                requant,
                scale,
            });
        }
        Ok(Self { input_scales, layers: out })
    }

    /// Step 1: a feature row as int8.
    pub fn quantize_input(&self, x: &[f32]) -> Result<Vec<i8>, ModelError> {
        if x.len() != self.input_scales.len() {
            return Err(ModelError::Input(format!(
                "expected {} features, got {}",
                self.input_scales.len(),
                x.len()
            )));
        }
        x.iter()
            .zip(&self.input_scales)
            .enumerate()
            .map(|(i, (v, s))| {
                quantize_value(f64::from(*v), *s)
                    .ok_or_else(|| ModelError::Input(format!("feature {i} is not a finite number")))
            })
            .collect()
    }

    /// Steps 2–5: the last layer's accumulators.
    pub fn forward(&self, x_q: &[i8]) -> Result<Vec<i32>, ModelError> {
        if x_q.len() != self.input_scales.len() {
            return Err(ModelError::Input(format!(
                "expected {} features, got {}",
                self.input_scales.len(),
                x_q.len()
            )));
        }
        let mut act: Vec<i32> = x_q.iter().map(|v| i32::from(*v)).collect();
        for l in &self.layers {
            let mut acc = l.bias.clone();
            for (i, a) in act.iter().enumerate() {
                let row = &l.weights[i * l.outputs..(i + 1) * l.outputs];
                for (o, w) in acc.iter_mut().zip(row) {
                    *o += a * i32::from(*w);
                }
            }
            if l.relu {
                acc.iter_mut().for_each(|v| *v = (*v).max(0));
            }
            match &l.requant {
                Some(r) => act = acc.iter().map(|v| i32::from(r.apply(*v))).collect(),
                None => return Ok(acc),
            }
        }
        Ok(act)
    }

    /// The class a row falls in (step 5's rule).
    pub fn classify(&self, x: &[f32]) -> Result<usize, ModelError> {
        let acc = self.forward(&self.quantize_input(x)?)?;
        Ok(class_of(&acc.iter().map(|a| i64::from(*a)).collect::<Vec<_>>()))
    }

    /// The last layer's real values.
    pub fn logits(&self, x: &[f32]) -> Result<Vec<f64>, ModelError> {
        let scale = self.layers.last().map(|l| l.scale).unwrap_or(1.0);
        Ok(self.forward(&self.quantize_input(x)?)?.iter().map(|a| f64::from(*a) * scale).collect())
    }

    /// The network as its registry file holds it (`veil.int8/1`): its JSON, field
    /// order fixed, so one network has one root.
    pub fn to_file(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serialisable")
    }

    /// A network from its registry file, checked as thoroughly as one built by
    /// [`QuantizedNet::quantize`]: shapes chain, weights and scales are in range, every
    /// requantisation is normalised, and no accumulator can overflow `i32`.
    pub fn from_file(bytes: &[u8]) -> Result<Self, ModelError> {
        let bad = |m: String| Err(ModelError::Unsupported(m));
        let net: Self = serde_json::from_slice(bytes)
            .map_err(|e| ModelError::Unsupported(format!("not a veil.int8/1 network: {e}")))?;
        let Some(last) = net.layers.len().checked_sub(1) else {
            return bad("the network has no layers".into());
        };
        if net.input_scales.is_empty() || net.input_scales.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return bad("input scales must be finite and not negative".into());
        }
        let mut inputs = net.input_scales.len();
        for (k, l) in net.layers.iter().enumerate() {
            if l.inputs != inputs || l.outputs == 0 {
                return bad(format!("layer {k} takes {} inputs, not the {inputs} it is given", l.inputs));
            }
            if l.weights.len() != l.inputs.saturating_mul(l.outputs) || l.bias.len() != l.outputs {
                return bad(format!("layer {k} has the wrong number of weights or biases"));
            }
            if l.weights.contains(&i8::MIN) || !(l.scale.is_finite() && l.scale > 0.0) {
                return bad(format!("layer {k}: weights in -127..=127 and a positive scale"));
            }
            for j in 0..l.outputs {
                let reach = i64::from(l.bias[j]).abs()
                    + 127 * (0..l.inputs).map(|i| i64::from(l.weights[i * l.outputs + j]).abs()).sum::<i64>();
                if reach >= i64::from(i32::MAX) {
                    return bad(format!("layer {k} output {j} could overflow i32"));
                }
            }
            match (&l.requant, k == last) {
                (None, true) => {}
                (Some(r), false)
                    if (1 << 30..=i32::MAX).contains(&r.multiplier) && (1..=62).contains(&r.shift) => {}
                _ => return bad(format!("layer {k}: every layer but the last requantises, normalised")),
            }
            inputs = l.outputs;
        }
        Ok(net)
    }

    /// SHA-256 of the network's JSON (field order fixed): pins it in receipts.
    pub fn digest(&self) -> [u8; 32] {
        let json = serde_json::to_vec(self).expect("serialisable");
        Sha256::digest([b"veil/model/int8/v1\0".as_slice(), &json].concat()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requant_multipliers_are_normalised_and_exact_for_powers_of_two() {
        for m in [1e-6, 0.001, 0.37, 0.5, 0.999_999, 1.0, 3.5, 1000.0] {
            let r = Requant::from_real(m).unwrap();
            assert!((1 << 30..=i32::MAX).contains(&r.multiplier), "{m}: {r:?}");
            let back = f64::from(r.multiplier) / 2f64.powi(r.shift as i32);
            assert!((back - m).abs() / m < 1e-9, "{m} vs {back}");
        }
        let half = Requant::from_real(0.5).unwrap();
        assert_eq!((half.multiplier, half.shift), (1 << 30, 31));
        // Rounds half toward +∞ and clamps.
        assert_eq!(half.apply(3), 2);
        assert_eq!(half.apply(-3), -1);
        assert_eq!(half.apply(1_000), 127);
        assert_eq!(half.apply(-1_000), -127);
        assert!(Requant::from_real(0.0).is_err());
        assert!(Requant::from_real(f64::NAN).is_err());
    }

    proptest::proptest! {
        #[test]
        fn requant_matches_real_multiplication_within_one_unit(acc in -5_000_000i32..5_000_000, m in 1e-4f64..0.9) {
            let r = Requant::from_real(m).unwrap();
            let exact = (f64::from(acc) * m).clamp(-127.0, 127.0);
            proptest::prop_assert!((f64::from(r.apply(acc)) - exact).abs() <= 1.0);
        }
    }
}
