//! `veil zk …` and `veil prove …`: Groth16 keys, proofs and verification from the
//! command line, with files in snarkjs's JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use veil_prover::{CircuitBench, IncomeCircuit, InferenceCircuit, Statement, Zkml};
use veil_zk::income::{IncomeInput, IncomeThreshold};
use veil_zk::mlp::{Inference, WeightMode};
use veil_zk::{groth, snarkjs};

use crate::io;

/// A circuit Veil proves.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Circuit {
    /// Committed payments sum to at least a threshold.
    Income,
    /// An int8 network maps a committed input to committed outputs.
    Inference,
}

/// Which network the inference circuit runs, and whether its weights are private.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// A bundled model (quantised to int8 on its training split).
    #[arg(long, default_value = "digits-mlp")]
    pub model: String,
    /// `private`: weights are witnesses bound by the model commitment (one key per
    /// architecture); `public`: weights are compiled into the circuit.
    #[arg(long, value_parser = ["private", "public"], default_value = "private")]
    pub weights: String,
}

impl ModelArgs {
    fn mode(&self) -> WeightMode {
        if self.weights == "public" {
            WeightMode::Public
        } else {
            WeightMode::Private
        }
    }

    fn stem(&self) -> String {
        format!("mlp-{}-{}", self.model, self.weights)
    }
}

/// Which circuit, at which size or for which model.
#[derive(clap::Args, Clone)]
pub struct CircuitArgs {
    /// Which circuit.
    #[arg(long, value_enum, default_value_t = Circuit::Income)]
    pub circuit: Circuit,
    /// Payment slots in the income circuit.
    #[arg(long, default_value_t = veil_zk::income::SLOTS)]
    pub slots: usize,
    /// The inference circuit's model and weights.
    #[command(flatten)]
    pub model: ModelArgs,
}

impl CircuitArgs {
    /// The keys' file stem: income-<slots> or mlp-<model>-<weights>.
    fn stem(&self) -> String {
        match self.circuit {
            Circuit::Income => format!("income-{}", self.slots),
            Circuit::Inference => self.model.stem(),
        }
    }

    /// The circuit with an empty witness, for keys and exports.
    fn blank(&self) -> Result<Statement> {
        Ok(match self.circuit {
            Circuit::Income => Statement::Income(IncomeThreshold::blank(self.slots)),
            Circuit::Inference => Statement::Inference(Inference::blank(
                zkml(&self.model.model)?.network,
                self.model.mode(),
            )),
        })
    }
}

/// A bundled model, quantised on its training split, as the circuit sees it.
pub fn zkml(model: &str) -> Result<Zkml> {
    let (onnx, csv) = veil_stack::stack::bundled(model).with_context(|| {
        format!("unknown model {model:?}: the bundled models are digits-mlp and breast-cancer-logreg")
    })?;
    Ok(Zkml::new(onnx, csv)?)
}

/// `veil zk …`.
#[derive(Subcommand)]
pub enum ZkCommand {
    /// Development keys for the income-threshold circuit (anyone who saw the
    /// randomness could forge proofs: production keys come from a ceremony).
    Setup {
        /// The circuit.
        #[command(flatten)]
        circuit: CircuitArgs,
        /// Directory for the keys: income-<slots>.pk and .vk.json, or
        /// mlp-<model>-<weights>.pk and .vk.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the Solidity verifier for a verifying key (gnark's template; it reverts
    /// with ProofInvalid() unless the proof holds).
    ExportSolidity {
        /// verification_key.json.
        #[arg(long)]
        vk: PathBuf,
        /// Where to write Verifier.sol.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run the proof server (`POST /v1/prove/income-threshold`, `POST
    /// /v1/prove/inference`, `GET /v1/proofs/{id}`, `POST /v1/proofs/{id}/verify`,
    /// `GET /v1/prover`, `GET /v1/attestation`, `GET /v1/health`).
    Serve {
        /// The directory `veil zk setup` wrote: every circuit with keys there is served.
        #[arg(long)]
        keys: PathBuf,
        /// The income circuit's slots (which keys to load).
        #[arg(long, default_value_t = veil_zk::income::SLOTS)]
        slots: usize,
        /// The inference circuit's model and weights (which keys to load).
        #[command(flatten)]
        model: ModelArgs,
        /// Attest (`GET /v1/attestation`) on this TEE: `--sim-tee-seed SEED` (the
        /// simulated measurement covers this binary and the served verifying keys) or
        /// `--attester configfs-tsm --measurement HEX`; with neither, the prover
        /// answers 503 there.
        #[command(flatten)]
        tee: crate::worker::TeeArgs,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:7080")]
        listen: std::net::SocketAddr,
        /// Jobs that may wait.
        #[arg(long, default_value_t = 64)]
        queue: usize,
    },
    /// Write a circuit as an iden3 `.r1cs` file for a snarkjs phase-2 ceremony
    /// (`snarkjs groth16 setup`, `zkey contribute`, `zkey beacon`); the resulting
    /// `.zkey` is a proving key `veil prove --pk` and `veil zk serve` take.
    ExportR1cs {
        /// The circuit.
        #[command(flatten)]
        circuit: CircuitArgs,
        /// Where to write the .r1cs file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write what a verifier pins to trust this key directory's zk receipts: the
    /// verifying keys' hashes and, for a model, which commitment stands for its weights
    /// root (`veil verify --zk-pins FILE`). Publish it the way you publish the keys.
    Pins {
        /// The directory `veil zk setup` wrote.
        #[arg(long)]
        keys: PathBuf,
        /// The income circuit's slots.
        #[arg(long, default_value_t = veil_zk::income::SLOTS)]
        slots: usize,
        /// The inference circuit's model and weights.
        #[command(flatten)]
        model: ModelArgs,
        /// Where to write the pins (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a Groth16 proof (snarkjs JSON files): exit 0 when valid, 1 when not.
    Verify {
        /// verification_key.json.
        #[arg(long)]
        vk: PathBuf,
        /// public.json.
        #[arg(long)]
        public: PathBuf,
        /// proof.json.
        #[arg(long)]
        proof: PathBuf,
    },
}

/// `veil prove …`.
#[derive(Subcommand)]
pub enum ProveCommand {
    /// Prove that committed payments sum to at least a threshold.
    IncomeThreshold {
        /// The proving key (`veil zk setup`).
        #[arg(long)]
        pk: PathBuf,
        /// The statement: {account, epoch, amounts, salt, threshold, slots}.
        #[arg(long)]
        statement: PathBuf,
        /// Directory for proof.json and public.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Prove that a model maps a committed input to committed outputs.
    Inference {
        /// The proving key (`veil zk setup --circuit inference`).
        #[arg(long)]
        pk: PathBuf,
        /// The model and weights the key is for.
        #[command(flatten)]
        model: ModelArgs,
        /// Raw features, comma-separated (quantised to int8 before proving).
        #[arg(long, conflicts_with = "row", required_unless_present = "row")]
        features: Option<String>,
        /// Or the n-th held-out row of the model's dataset (from 0).
        #[arg(long)]
        row: Option<usize>,
        /// Salt of the input commitment (decimal or 0x-hex); default random.
        #[arg(long)]
        salt: Option<String>,
        /// Directory for proof.json, public.json and result.json.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The circuits a key directory serves: the income circuit at `slots`, the inference
/// circuit for `model` — whichever have keys there, and at least one.
fn served(
    keys: &Path,
    slots: usize,
    model: &ModelArgs,
) -> Result<(Option<IncomeCircuit>, Option<InferenceCircuit>)> {
    let load = |stem: &str| -> Result<Option<groth::Keys>> {
        let Some(path) = veil_prover::key_file(keys, stem) else {
            return Ok(None);
        };
        let pb = spinner(&format!("reading {}", path.display()));
        let loaded = veil_prover::load_keys(keys, stem)?;
        pb.finish_and_clear();
        Ok(loaded)
    };
    let income = load(&format!("income-{slots}"))?.map(|keys| IncomeCircuit { keys, slots });
    let inference = match load(&model.stem())? {
        Some(keys) => {
            let z = zkml(&model.model)?;
            Some(InferenceCircuit {
                keys,
                network: z.network,
                mode: model.mode(),
                name: model.model.clone(),
                model_root: Some(z.root),
                input_scales: z.quantized.input_scales,
            })
        }
        None => None,
    };
    if income.is_none() && inference.is_none() {
        bail!(
            "no keys in {}: run veil zk setup first (looked for income-{slots}.pk and {}.pk)",
            keys.display(),
            model.stem()
        );
    }
    Ok((income, inference))
}

/// What a verifier pins to take this key directory's receipts (`veil verify --zk-pins`).
fn pins(income: Option<&IncomeCircuit>, inference: Option<&InferenceCircuit>) -> Result<veil_verify::ZkPins> {
    let mut pins = veil_verify::ZkPins::default();
    if let Some(c) = income {
        pins.keys
            .push(snarkjs::vk_hash(&snarkjs::vk_to_json(&c.keys.vk))?);
    }
    if let Some(c) = inference {
        pins.keys
            .push(snarkjs::vk_hash(&snarkjs::vk_to_json(&c.keys.vk))?);
        if let Some(root) = c.model_root {
            pins.models.push(veil_verify::ModelPin {
                model_root: root,
                commitment: c.network.hash()?.to_string(),
            });
        }
    }
    Ok(pins)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    serde_json::from_slice(&io::read_limited(path, 16 << 20)?)
        .with_context(|| format!("{} is not JSON", path.display()))
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg.to_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Run `veil zk …`.
pub fn zk(command: ZkCommand) -> Result<ExitCode> {
    match command {
        ZkCommand::Setup { circuit, out } => {
            veil_fs::create_private_dir(&out)?;
            let started = Instant::now();
            let stem = circuit.stem();
            let blank = circuit.blank()?;
            let constraints = blank.clone().constraints()?;
            let pb = spinner(&format!("generating development keys for {stem}"));
            let keys = blank.setup()?;
            pb.finish_and_clear();
            let pk = out.join(format!("{stem}.pk"));
            let vk = out.join(format!("{stem}.vk.json"));
            veil_fs::write_atomic(&pk, &groth::pk_to_bytes(&keys.pk)?)?;
            veil_fs::write_atomic(
                &vk,
                serde_json::to_string_pretty(&snarkjs::vk_to_json(&keys.vk))?.as_bytes(),
            )?;
            outln!(
                "{constraints} constraints; keys in {:.1} s: {} and {}",
                started.elapsed().as_secs_f64(),
                pk.display(),
                vk.display()
            );
        }
        ZkCommand::ExportR1cs { circuit, out } => {
            let bytes = circuit.blank()?.r1cs()?;
            veil_fs::write_atomic(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            outln!("{}", out.display());
        }
        ZkCommand::ExportSolidity { vk, out } => {
            let vk = snarkjs::vk_from_json(&read_json(&vk)?)?;
            veil_fs::write_atomic(&out, veil_zk::solidity::verifier_source(&vk)?.as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            outln!("{}", out.display());
        }
        ZkCommand::Serve {
            keys,
            slots,
            model,
            tee,
            listen,
            queue,
        } => {
            let (income, inference) = served(&keys, slots, &model)?;
            let attestation = match tee.backend()? {
                Some(backend) => {
                    let served: Vec<String> = [
                        &income.as_ref().map(|c| &c.keys.vk),
                        &inference.as_ref().map(|c| &c.keys.vk),
                    ]
                    .into_iter()
                    .flatten()
                    .map(|vk| snarkjs::vk_to_json(vk).to_string())
                    .collect();
                    let (attester, measurement) = veil_stack::tee::attester(&backend, || {
                        let exe = std::env::current_exe()
                            .map_err(veil_stack::StackError::io("finding this executable"))?;
                        let config = serde_json::json!({ "role": "prover", "verification_keys": served });
                        veil_sim_tee::SimMeasurement::of(&exe, &config, &[0; 32])
                            .map_err(|e| veil_stack::StackError::Config(e.to_string()))
                    })?;
                    Some(veil_prover::ProverAttestation {
                        measurement,
                        attester,
                    })
                }
                None => None,
            };
            let prover = veil_prover::Prover::start(veil_prover::ProverParts {
                attestation,
                identity: veil_seal::Identity::generate()?,
                income,
                inference,
                queue_capacity: queue,
                clock: crate::unix_now,
            })?;
            let rt = crate::runtime()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                outln!("listening on http://{}", listener.local_addr()?);
                axum::serve(listener, veil_prover::router(prover))
                    .with_graceful_shutdown(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await
                    .context("serving")
            })?;
        }
        ZkCommand::Pins {
            keys,
            slots,
            model,
            out,
        } => {
            let (income, inference) = served(&keys, slots, &model)?;
            let pins = pins(income.as_ref(), inference.as_ref())?;
            veil_fs::write_atomic(&out, serde_json::to_string_pretty(&pins)?.as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            outln!(
                "{} verifying key(s), {} model(s) → {}",
                pins.keys.len(),
                pins.models.len(),
                out.display()
            );
        }
        ZkCommand::Verify { vk, public, proof } => {
            let vk = snarkjs::vk_from_json(&read_json(&vk)?)?;
            let public = snarkjs::public_from_json(&read_json(&public)?)?;
            let proof = snarkjs::proof_from_json(&read_json(&proof)?)?;
            if groth::verify(&vk, &public, &proof)? {
                outln!("valid proof ({} public inputs)", public.len());
            } else {
                eprintln!("veil: invalid proof: it does not verify for these public inputs (zk.invalid)");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// proof.json and public.json (snarkjs's files) in `out`, created 0700 if missing.
fn write_proof(out: &Path, proof: &groth::GrothProof, public: &[veil_zk::Fr]) -> Result<()> {
    veil_fs::create_private_dir(out)?;
    veil_fs::write_atomic(
        out.join("proof.json"),
        serde_json::to_string_pretty(&snarkjs::proof_to_json(proof))?.as_bytes(),
    )?;
    veil_fs::write_atomic(
        out.join("public.json"),
        snarkjs::public_to_json(public).to_string().as_bytes(),
    )?;
    Ok(())
}

/// Run `veil prove …`.
pub fn prove(command: ProveCommand) -> Result<()> {
    match command {
        ProveCommand::IncomeThreshold { pk, statement, out } => {
            let input: IncomeInput = serde_json::from_value(read_json(&statement)?)
                .with_context(|| format!("{} is not an income statement", statement.display()))?;
            let statement = IncomeThreshold::try_from(input)?;
            // A false statement is refused before the key is even read.
            statement.public_inputs()?;
            let pb = spinner("reading the proving key");
            let (pk, reduction) = groth::read_pk(&io::read_limited(&pk, 1 << 30)?)?;
            pb.set_message("proving");
            let started = Instant::now();
            let (proof, public) = groth::prove_income_with(&pk, reduction, statement, &mut groth::os_rng()?)?;
            pb.finish_and_clear();
            write_proof(&out, &proof, &public)?;
            outln!(
                "proved in {:.2} s: {}",
                started.elapsed().as_secs_f64(),
                out.join("proof.json").display()
            );
        }
        ProveCommand::Inference {
            pk,
            model,
            features,
            row,
            salt,
            out,
        } => {
            let z = zkml(&model.model)?;
            let (x, label) = match (features, row) {
                (Some(f), _) => (
                    f.split(',')
                        .map(|v| {
                            v.trim()
                                .parse::<f32>()
                                .with_context(|| format!("feature {v:?} is not a number"))
                        })
                        .collect::<Result<Vec<f32>>>()?,
                    None,
                ),
                (None, Some(n)) => {
                    let (x, y) = z.data.test.get(n).with_context(|| {
                        format!(
                            "--row {n}: {} has {} held-out rows",
                            model.model,
                            z.data.test.len()
                        )
                    })?;
                    (x.clone(), Some(*y))
                }
                (None, None) => bail!("give --features or --row"),
            };
            let salt = match salt {
                Some(s) => veil_zk::income::parse_fr(&s, "salt")?,
                None => groth::random_fr()?,
            };
            let statement = Inference {
                network: z.network,
                mode: model.mode(),
                input: z.quantized.quantize_input(&x)?,
                salt,
            };
            let claim = statement.claim()?;
            let pb = spinner("reading the proving key");
            let (pk, reduction) = groth::read_pk(&io::read_limited(&pk, 1 << 30)?)?;
            pb.set_message(format!("proving ({} weights)", model.weights));
            let started = Instant::now();
            let proof = groth::prove_with(&pk, reduction, statement, &mut groth::os_rng()?)?;
            pb.finish_and_clear();
            let class = veil_zk::mlp::class_of(&claim.outputs);
            write_proof(&out, &proof, &claim.public)?;
            // The salt opens the input commitment: it stays with the prover (0600 dir).
            let result = serde_json::json!({
                "model": model.model, "weights": model.weights, "model_root": z.root,
                "outputs": claim.outputs, "class": class, "salt": salt.to_string(),
            });
            veil_fs::write_atomic(
                out.join("result.json"),
                serde_json::to_string_pretty(&result)?.as_bytes(),
            )?;
            let expected = label
                .map(|y| format!(" (held-out label {y})"))
                .unwrap_or_default();
            outln!(
                "class {class}{expected}; proved in {:.2} s: {}",
                started.elapsed().as_secs_f64(),
                out.join("proof.json").display()
            );
        }
    }
    Ok(())
}

/// `veil bench zk`: a circuit's size, key generation, proving, verifying and memory.
pub fn bench(circuit: &CircuitArgs, runs: usize) -> Result<()> {
    let (slots, model) = (circuit.slots, &circuit.model);
    let (name, statement) = match circuit.circuit {
        Circuit::Income => (
            format!("income, {slots} slots"),
            Statement::Income(IncomeThreshold {
                account: veil_zk::Fr::from(0xa11ce_u64),
                epoch: 202611,
                amounts: (0..slots as u64).map(|i| 1_000 + i).collect(),
                salt: veil_zk::Fr::from(7u64),
                threshold: 1_000 * slots as u128,
                slots,
            }),
        ),
        Circuit::Inference => {
            let z = zkml(&model.model)?;
            let input = z.quantized.quantize_input(&z.data.test[0].0)?;
            (
                format!("{}, {} weights", model.model, model.weights),
                Statement::Inference(Inference {
                    network: z.network,
                    mode: model.mode(),
                    input,
                    salt: veil_zk::Fr::from(7u64),
                }),
            )
        }
    };
    let CircuitBench {
        constraints,
        setup,
        prove,
        verify,
    } = veil_prover::bench_circuit(&circuit.blank()?, &statement, runs)?;
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    outln!(
        "| circuit | constraints | setup | prove (median of {runs}) | verify (median of 100) | peak RSS |"
    );
    outln!("|---|---|---|---|---|---|");
    outln!(
        "| {name} | {constraints} | {:.2} s | {:.3} s | {:.2} ms | {peak} |",
        setup.as_secs_f64(),
        prove[prove.len() / 2].as_secs_f64(),
        verify[verify.len() / 2].as_secs_f64() * 1000.0
    );
    Ok(())
}
