//! The proof server's side of the stack: which circuit a key directory serves for a
//! bundled model, what a verifier pins to trust its receipts, what its simulated
//! measurement covers, and the key, proof and benchmark files `veil zk` and `veil
//! prove` write (snarkjs's JSON).
//!
//! Key selection itself (a ceremony's `.zkey` over a development `.pk`) is
//! `veil_prover::load_keys`; this module only names the stems and composes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use veil_prover::{IncomeCircuit, InferenceCircuit, ProverAttestation, Statement, Zkml};
use veil_zk::income::{IncomeInput, IncomeThreshold};
use veil_zk::mlp::{Inference, WeightMode};
use veil_zk::{Fr, groth, snarkjs};

use crate::tee::TeeBackend;
use crate::{Result, StackError};

/// Proving keys are large (the 256-payment income key is ~20 MB); this bounds a read.
const MAX_KEY_BYTES: u64 = 1 << 30;

/// A circuit Veil proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    /// Committed payments sum to at least a threshold.
    Income,
    /// An int8 network maps a committed input to committed outputs.
    Inference,
}

impl std::str::FromStr for Circuit {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "income" => Ok(Self::Income),
            "inference" => Ok(Self::Inference),
            _ => Err(format!("{s:?}: the circuits are `income` and `inference`")),
        }
    }
}

/// A bundled model as the inference circuit runs it (also the `--model` and
/// `--weights` flags of `veil zk` and `veil prove`).
#[derive(Debug, Clone, clap::Args)]
pub struct ModelSpec {
    /// A bundled model (quantised to int8 on its training split).
    #[arg(long = "model", default_value = "digits-mlp")]
    pub name: String,
    /// `private`: weights are witnesses bound by the model commitment (one key per
    /// architecture); `public`: weights are compiled into the circuit.
    #[arg(long = "weights", default_value = "private")]
    pub mode: WeightMode,
}

impl ModelSpec {
    /// Its keys' file stem: `mlp-<model>-<private|public>`.
    pub fn stem(&self) -> String {
        format!("mlp-{}-{}", self.name, self.weights())
    }

    /// `private` or `public`.
    pub fn weights(&self) -> &'static str {
        match self.mode {
            WeightMode::Private => "private",
            WeightMode::Public => "public",
        }
    }

    /// The model, quantised on its training split, as the circuit sees it.
    pub fn zkml(&self) -> Result<Zkml> {
        let (onnx, csv) = crate::stack::bundled(&self.name).ok_or_else(|| {
            StackError::Config(format!(
                "unknown model {:?}: the bundled models are digits-mlp and breast-cancer-logreg",
                self.name
            ))
        })?;
        Ok(Zkml::new(onnx, csv)?)
    }
}

/// Which circuit, at which size or for which model (also the circuit flags of `veil
/// zk` and `veil bench zk`).
#[derive(Debug, Clone, clap::Args)]
pub struct CircuitSpec {
    /// Which circuit: `income` (committed payments sum to at least a threshold) or
    /// `inference` (an int8 network maps a committed input to committed outputs).
    #[arg(long, default_value = "income")]
    pub circuit: Circuit,
    /// Payment slots in the income circuit.
    #[arg(long, default_value_t = veil_zk::income::SLOTS)]
    pub slots: usize,
    /// The inference circuit's model and weights.
    #[command(flatten)]
    pub model: ModelSpec,
}

impl CircuitSpec {
    /// The keys' file stem: `income-<slots>` or `mlp-<model>-<weights>`.
    pub fn stem(&self) -> String {
        match self.circuit {
            Circuit::Income => format!("income-{}", self.slots),
            Circuit::Inference => self.model.stem(),
        }
    }

    /// The circuit with an empty witness, for keys and exports.
    pub fn blank(&self) -> Result<Statement> {
        Ok(match self.circuit {
            Circuit::Income => Statement::Income(IncomeThreshold::blank(self.slots)),
            Circuit::Inference => {
                Statement::Inference(Inference::blank(self.model.zkml()?.network, self.model.mode))
            }
        })
    }
}

/// A key directory and which of its circuits to load (also the key flags of `veil zk
/// serve` and `veil zk pins`).
#[derive(Debug, Clone, clap::Args)]
pub struct KeyDir {
    /// The directory `veil zk setup` wrote: every circuit with keys there is served.
    #[arg(long)]
    pub keys: PathBuf,
    /// The income circuit's slots (which keys to load).
    #[arg(long, default_value_t = veil_zk::income::SLOTS)]
    pub slots: usize,
    /// The inference circuit's model and weights (which keys to load).
    #[command(flatten)]
    pub model: ModelSpec,
}

/// The circuits a key directory serves.
pub struct Served {
    /// The income circuit at the requested slots, when its keys are there.
    pub income: Option<IncomeCircuit>,
    /// The inference circuit for the requested model, when its keys are there.
    pub inference: Option<InferenceCircuit>,
}

impl Served {
    /// The income circuit and the inference circuit `dir` names, whichever have keys
    /// there — at least one.
    pub fn load(dir: &KeyDir) -> Result<Self> {
        let KeyDir { keys, slots, model } = dir;
        let income = veil_prover::load_keys(keys, &format!("income-{slots}"))?
            .map(|keys| IncomeCircuit { keys, slots: *slots });
        let inference = match veil_prover::load_keys(keys, &model.stem())? {
            Some(keys) => {
                let z = model.zkml()?;
                Some(InferenceCircuit {
                    keys,
                    network: z.network,
                    mode: model.mode,
                    name: model.name.clone(),
                    model_root: Some(z.root),
                    input_scales: z.quantized.input_scales,
                })
            }
            None => None,
        };
        if income.is_none() && inference.is_none() {
            return Err(StackError::Config(format!(
                "no keys in {}: run veil zk setup first (looked for income-{slots}.pk and {}.pk)",
                keys.display(),
                model.stem()
            )));
        }
        Ok(Self { income, inference })
    }

    fn verifying_keys(&self) -> impl Iterator<Item = serde_json::Value> + '_ {
        let income = self.income.as_ref().map(|c| &c.keys.vk);
        let inference = self.inference.as_ref().map(|c| &c.keys.vk);
        [income, inference].into_iter().flatten().map(snarkjs::vk_to_json)
    }

    /// What a verifier pins to take these circuits' receipts (`veil verify --zk-pins`).
    pub fn pins(&self) -> Result<veil_verify::ZkPins> {
        let mut pins = veil_verify::ZkPins::default();
        for vk in self.verifying_keys() {
            pins.keys.push(snarkjs::vk_hash(&vk)?);
        }
        if let Some(c) = &self.inference
            && let Some(root) = c.model_root
        {
            pins.models
                .push(veil_verify::ModelPin { model_root: root, commitment: c.network.hash()?.to_string() });
        }
        Ok(pins)
    }

    /// The prover's attestation on `backend`; the simulated measurement covers the
    /// executable `exe` and the verifying keys served.
    pub fn attestation(&self, backend: &TeeBackend, exe: &Path) -> Result<ProverAttestation> {
        let served: Vec<String> = self.verifying_keys().map(|vk| vk.to_string()).collect();
        let (attester, measurement) = crate::tee::attester(backend, || {
            let config = serde_json::json!({ "role": "prover", "verification_keys": served });
            Ok(veil_sim_tee::SimMeasurement::of(exe, &config, &[0; 32])?)
        })?;
        Ok(ProverAttestation { measurement, attester })
    }

    /// Start a proof server for these circuits with a fresh identity and a queue of
    /// `queue` jobs, attesting on `tee` when given (see [`Served::attestation`]), and
    /// submitting every receipt to `log` before its proof is handed out.
    pub fn start(
        self,
        tee: Option<&TeeBackend>,
        exe: &Path,
        queue: usize,
        clock: fn() -> u64,
        log: Option<veil_prover::ReceiptLog>,
    ) -> Result<std::sync::Arc<veil_prover::Prover>> {
        let attestation = match tee {
            Some(backend) => Some(self.attestation(backend, exe)?),
            None => None,
        };
        Ok(veil_prover::Prover::start(veil_prover::ProverParts {
            attestation,
            identity: veil_seal::Identity::generate()?,
            income: self.income,
            inference: self.inference,
            queue_capacity: queue,
            clock,
            log,
        })?)
    }
}

/// What `veil zk setup` made.
pub struct SetupReport {
    /// The circuit's constraints.
    pub constraints: usize,
    /// The proving key's file.
    pub pk: PathBuf,
    /// The verifying key's file (snarkjs JSON).
    pub vk: PathBuf,
}

/// Development keys for `spec` in `out` (created 0700): `<stem>.pk` and
/// `<stem>.vk.json`. Anyone who saw the randomness could forge proofs; production keys
/// come from a ceremony.
pub fn setup(spec: &CircuitSpec, out: &Path) -> Result<SetupReport> {
    veil_fs::create_private_dir(out)?;
    let stem = spec.stem();
    let blank = spec.blank()?;
    let constraints = blank.clone().constraints()?;
    let keys = blank.setup()?;
    let pk = out.join(format!("{stem}.pk"));
    let vk = out.join(format!("{stem}.vk.json"));
    veil_fs::write_atomic(&pk, &groth::pk_to_bytes(&keys.pk)?)?;
    veil_fs::write_json(&vk, &snarkjs::vk_to_json(&keys.vk))?;
    Ok(SetupReport { constraints, pk, vk })
}

/// A small JSON file, read whole.
fn read_json(path: &Path) -> Result<serde_json::Value> {
    Ok(veil_fs::read_json(path, 16 << 20, "JSON")?)
}

/// Check a Groth16 proof in snarkjs's files: the number of public inputs when it
/// verifies, `None` when it does not.
pub fn verify_files(vk: &Path, public: &Path, proof: &Path) -> Result<Option<usize>> {
    let vk = snarkjs::vk_from_json(&read_json(vk)?)?;
    let public = snarkjs::public_from_json(&read_json(public)?)?;
    let proof = snarkjs::proof_from_json(&read_json(proof)?)?;
    Ok(groth::verify(&vk, &public, &proof)?.then_some(public.len()))
}

/// The Solidity verifier (gnark's template) for the verifying key in `vk` (snarkjs JSON).
pub fn solidity_verifier(vk: &Path) -> Result<String> {
    Ok(veil_zk::solidity::verifier_source(&snarkjs::vk_from_json(&read_json(vk)?)?)?)
}

/// proof.json and public.json (snarkjs's files) in `out`, created 0700 if missing.
fn write_proof(out: &Path, proof: &groth::GrothProof, public: &[Fr]) -> Result<()> {
    veil_fs::create_private_dir(out)?;
    veil_fs::write_json(out.join("proof.json"), &snarkjs::proof_to_json(proof))?;
    veil_fs::write_atomic(out.join("public.json"), snarkjs::public_to_json(public).to_string().as_bytes())?;
    Ok(())
}

/// Prove the income statement in the JSON file `statement` with the proving key `pk`;
/// proof.json and public.json go to `out`. A false statement is refused before the
/// key is read. Returns the proving time.
pub fn prove_income(pk: &Path, statement: &Path, out: &Path) -> Result<Duration> {
    let input: IncomeInput = veil_fs::read_json(statement, 1 << 20, "an income statement")?;
    let statement = IncomeThreshold::try_from(input)?;
    statement.public_inputs()?;
    let (pk, reduction) = groth::read_pk(&veil_fs::read_limited(pk, MAX_KEY_BYTES)?)?;
    let started = Instant::now();
    let (proof, public) = groth::prove_income_with(&pk, reduction, statement, &mut groth::os_rng()?)?;
    let took = started.elapsed();
    write_proof(out, &proof, &public)?;
    Ok(took)
}

/// The input of a proof of inference.
pub enum ProofInput {
    /// Raw features (quantised to int8 before proving).
    Features(Vec<f32>),
    /// The n-th held-out row of the model's dataset.
    Row(usize),
}

impl ProofInput {
    /// Raw features written as comma-separated numbers.
    pub fn features(csv: &str) -> Result<Self> {
        csv.split(',')
            .map(|v| {
                v.trim().parse().map_err(|_| StackError::Config(format!("feature {v:?} is not a number")))
            })
            .collect::<Result<_>>()
            .map(Self::Features)
    }
}

/// What `veil prove inference` proved.
pub struct InferenceProof {
    /// The predicted class.
    pub class: usize,
    /// The held-out row's label, when the input was one.
    pub label: Option<usize>,
    /// Proving time.
    pub took: Duration,
}

/// Prove that `model` maps `input` to its outputs under the proving key `pk`;
/// proof.json, public.json and result.json (with the salt that opens the input
/// commitment, so the directory stays 0700) go to `out`.
pub fn prove_inference(
    pk: &Path,
    model: &ModelSpec,
    input: ProofInput,
    salt: Option<&str>,
    out: &Path,
) -> Result<InferenceProof> {
    let z = model.zkml()?;
    let (x, label) = match input {
        ProofInput::Features(x) => (x, None),
        ProofInput::Row(n) => {
            let (x, y) = z.data.test.get(n).ok_or_else(|| {
                StackError::Config(format!(
                    "--row {n}: {} has {} held-out rows",
                    model.name,
                    z.data.test.len()
                ))
            })?;
            (x.clone(), Some(*y))
        }
    };
    let salt = match salt {
        Some(s) => veil_zk::income::parse_fr(s, "salt")?,
        None => groth::random_fr()?,
    };
    let statement =
        Inference { network: z.network, mode: model.mode, input: z.quantized.quantize_input(&x)?, salt };
    let claim = statement.claim()?;
    let (pk, reduction) = groth::read_pk(&veil_fs::read_limited(pk, MAX_KEY_BYTES)?)?;
    let started = Instant::now();
    let proof = groth::prove_with(&pk, reduction, statement, &mut groth::os_rng()?)?;
    let took = started.elapsed();
    let class = veil_zk::mlp::class_of(&claim.outputs);
    write_proof(out, &proof, &claim.public)?;
    let result = serde_json::json!({
        "model": model.name, "weights": model.weights(), "model_root": z.root,
        "outputs": claim.outputs, "class": class, "salt": salt.to_string(),
    });
    veil_fs::write_json(out.join("result.json"), &result)?;
    Ok(InferenceProof { class, label, took })
}

/// `veil bench zk`: a circuit's size, key generation, proving (median of `runs`),
/// verifying and this process's peak memory (`peak_rss`, read by the caller), as a
/// markdown table.
pub fn bench(spec: &CircuitSpec, runs: usize, peak_rss: impl FnOnce() -> String) -> Result<String> {
    let (name, statement) = match spec.circuit {
        Circuit::Income => {
            let slots = spec.slots;
            let statement = IncomeThreshold {
                account: Fr::from(0xa11ce_u64),
                epoch: 202611,
                amounts: (0..slots as u64).map(|i| 1_000 + i).collect(),
                salt: Fr::from(7u64),
                threshold: 1_000 * slots as u128,
                slots,
            };
            (format!("income, {slots} slots"), Statement::Income(statement))
        }
        Circuit::Inference => {
            let z = spec.model.zkml()?;
            let input = z.quantized.quantize_input(&z.data.test[0].0)?;
            let statement =
                Inference { network: z.network, mode: spec.model.mode, input, salt: Fr::from(7u64) };
            let name = format!("{}, {} weights", spec.model.name, spec.model.weights());
            (name, Statement::Inference(statement))
        }
    };
    let b = veil_prover::bench_circuit(&spec.blank()?, &statement, runs)?;
    Ok(format!(
        "| circuit | constraints | setup | prove (median of {runs}) | verify (median of 100) | peak RSS |\n\
         |---|---|---|---|---|---|\n\
         | {name} | {} | {:.2} s | {:.3} s | {:.2} ms | {} |",
        b.constraints,
        b.setup.as_secs_f64(),
        b.prove[b.prove.len() / 2].as_secs_f64(),
        b.verify[b.verify.len() / 2].as_secs_f64() * 1000.0,
        peak_rss()
    ))
}
