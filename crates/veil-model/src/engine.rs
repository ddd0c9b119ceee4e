//! f32 inference through tract, with any batch size.

use std::collections::BTreeMap;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::dims;
use tract_onnx::tract_hir::infer::Factoid;
use veil_content::Root;

use crate::ModelError;

type Plan = Arc<TypedRunnableModel>;

/// A loaded model whose bytes matched their root.
#[derive(Clone)]
pub struct OnnxModel {
    root: Root,
    features: usize,
    output_names: Vec<String>,
    plan: Plan,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("root", &self.root)
            .field("features", &self.features)
            .field("outputs", &self.output_names)
            .finish_non_exhaustive()
    }
}

/// Named f32 outputs, each `rows × width`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs(pub BTreeMap<String, (usize, Vec<f32>)>);

impl Outputs {
    /// Output `name`'s row `i`.
    pub fn row(&self, name: &str, i: usize) -> Option<&[f32]> {
        let (width, data) = self.0.get(name)?;
        data.get(i * width..(i + 1) * width)
    }
}

fn onnx_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Onnx(format!("{e:#}"))
}

impl OnnxModel {
    /// Load `bytes`, refusing them unless they hash to `expected` (the weights root
    /// the caller asked for).
    pub fn load(bytes: &[u8], expected: &Root) -> Result<Self, ModelError> {
        let actual = veil_content::root_of(bytes).map_err(|e| ModelError::Onnx(e.to_string()))?;
        if &actual != expected {
            return Err(ModelError::Integrity { expected: *expected, actual });
        }
        let onnx = tract_onnx::onnx();
        let model = onnx.model_for_read(&mut &bytes[..]).map_err(onnx_err)?;
        let fact = model.input_fact(0).map_err(onnx_err)?.clone();
        let features = match fact.shape.dims().collect::<Vec<_>>().as_slice() {
            [_, d] => d
                .concretize()
                .and_then(|d| d.as_i64())
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| ModelError::Onnx("the input's feature dimension must be fixed".into()))?,
            _ => return Err(ModelError::Onnx("the input must be [batch, features]".into())),
        };
        let n = model.sym("N");
        let typed = model
            .with_input_fact(0, f32::fact(dims!(n, features)).into())
            .map_err(onnx_err)?
            .into_optimized()
            .map_err(onnx_err)?;
        let output_names = typed
            .output_outlets()
            .map_err(onnx_err)?
            .iter()
            .map(|o| typed.node(o.node).name.clone())
            .collect();
        let plan = typed.into_runnable().map_err(onnx_err)?;
        Ok(Self { root: actual, features, output_names, plan })
    }

    /// The weights root.
    pub fn root(&self) -> Root {
        self.root
    }

    /// Features per input row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Run a batch: `rows` rows of `features()` values each, row-major. Non-finite
    /// values are refused.
    pub fn run(&self, rows: usize, input: &[f32]) -> Result<Outputs, ModelError> {
        if rows == 0 || input.len() != rows * self.features {
            return Err(ModelError::Input(format!(
                "expected {rows} rows of {} features ({} values), got {} values",
                self.features,
                rows * self.features,
                input.len()
            )));
        }
        if let Some(i) = input.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Input(format!("value {i} is not a finite number")));
        }
        let tensor = Tensor::from_shape(&[rows, self.features], input).map_err(onnx_err)?;
        let out = self.plan.run(tvec!(tensor.into_tvalue())).map_err(onnx_err)?;
        let mut named = BTreeMap::new();
        for (name, t) in self.output_names.iter().zip(out.iter()) {
            let view = t.to_plain_array_view::<f32>().map_err(onnx_err)?;
            let width = view.shape().get(1).copied().unwrap_or(1);
            named.insert(name.clone(), (width, view.iter().copied().collect()));
        }
        Ok(Outputs(named))
    }
}
