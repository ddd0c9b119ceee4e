//! The circuits a prover serves, as one type: a model as the inference circuit sees
//! it, and a statement of either circuit with what every caller does to one
//! (export, count, set up, prove, benchmark).

use std::time::{Duration, Instant};

use veil_model::{Dataset, QuantizedNet, dense_layers};
use veil_zk::income::IncomeThreshold;
use veil_zk::mlp::{Inference, Network};
use veil_zk::{Fr, ZkError, groth};

use crate::circuit_network;

/// A model as the inference circuit sees it, with its quantisation and file root.
pub struct Zkml {
    /// The int8 network and its input scales.
    pub quantized: QuantizedNet,
    /// The circuit's view of it.
    pub network: Network,
    /// 0G root of the ONNX file.
    pub root: veil_content::Root,
    /// The dataset it was trained and quantised on.
    pub data: Dataset,
}

impl Zkml {
    /// Quantise an ONNX dense network on its dataset's training split.
    pub fn new(onnx: &[u8], dataset_csv: &str) -> Result<Self, ZkError> {
        let bad = |e: veil_model::ModelError| ZkError::Input(e.to_string());
        let data = Dataset::parse(dataset_csv).map_err(bad)?;
        let quantized =
            QuantizedNet::quantize(&dense_layers(onnx).map_err(bad)?, &data.train).map_err(bad)?;
        Ok(Self {
            network: circuit_network(&quantized),
            root: veil_content::root_of(onnx).map_err(|e| ZkError::Input(e.to_string()))?,
            quantized,
            data,
        })
    }
}

/// A statement of either circuit (blank for keys and exports, or with a witness).
#[derive(Debug, Clone)]
pub enum Statement {
    /// Income threshold.
    Income(IncomeThreshold),
    /// zkML inference.
    Inference(Inference),
}

impl Statement {
    /// The circuit as a circom `.r1cs` file (for a snarkjs ceremony).
    pub fn r1cs(self) -> Result<Vec<u8>, ZkError> {
        match self {
            Self::Income(s) => veil_zk::circom::r1cs_bytes(s),
            Self::Inference(s) => veil_zk::circom::r1cs_bytes(s),
        }
    }

    /// How many constraints the circuit has.
    pub fn constraints(self) -> Result<usize, ZkError> {
        match self {
            Self::Income(s) => groth::constraints(s),
            Self::Inference(s) => groth::constraints(s),
        }
    }

    /// Development keys (whoever saw the randomness could forge proofs).
    pub fn setup(self) -> Result<groth::Keys, ZkError> {
        let rng = &mut groth::os_rng()?;
        match self {
            Self::Income(s) => groth::dev_setup(s, rng),
            Self::Inference(s) => groth::dev_setup(s, rng),
        }
    }

    /// A proof and its public inputs.
    pub fn prove(&self, pk: &groth::Pk) -> Result<(groth::GrothProof, Vec<Fr>), ZkError> {
        let rng = &mut groth::os_rng()?;
        match self.clone() {
            Self::Income(s) => groth::prove_income(pk, s, rng),
            Self::Inference(s) => {
                let public = s.claim()?.public;
                Ok((groth::prove(pk, s, rng)?, public))
            }
        }
    }
}

/// One circuit's costs, measured in this process.
#[derive(Debug, Clone)]
pub struct CircuitBench {
    /// Constraints.
    pub constraints: usize,
    /// Development key generation.
    pub setup: Duration,
    /// Each proof, sorted.
    pub prove: Vec<Duration>,
    /// Each of 100 verifications, sorted.
    pub verify: Vec<Duration>,
}

/// Set up keys for `blank`, prove `statement` `runs` times and verify the last proof
/// 100 times.
pub fn bench(blank: &Statement, statement: &Statement, runs: usize) -> Result<CircuitBench, ZkError> {
    if runs == 0 {
        return Err(ZkError::Input("--runs must be at least 1".into()));
    }
    let constraints = blank.clone().constraints()?;
    let t = Instant::now();
    let keys = blank.clone().setup()?;
    let setup = t.elapsed();
    let mut prove = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(statement.prove(&keys.pk)?);
        prove.push(t.elapsed());
    }
    let (proof, public) = last.ok_or_else(|| ZkError::Groth16("no proof".into()))?;
    let mut verify = Vec::with_capacity(100);
    for _ in 0..100 {
        let t = Instant::now();
        if !groth::verify(&keys.vk, &public, &proof)? {
            return Err(ZkError::Groth16("a fresh proof did not verify".into()));
        }
        verify.push(t.elapsed());
    }
    prove.sort();
    verify.sort();
    Ok(CircuitBench { constraints, setup, prove, verify })
}
