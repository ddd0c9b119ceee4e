//! `veil zk …` and `veil prove …`: Groth16 keys, proofs and verification from the
//! command line, with files in snarkjs's JSON.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use veil_stack::zk::{self, ProofInput, Served};

pub use veil_stack::zk::{CircuitSpec as CircuitArgs, KeyDir as KeysArgs, ModelSpec as ModelArgs};

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
        /// Which keys to serve.
        #[command(flatten)]
        keys: KeysArgs,
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
        /// A transparency log every receipt goes to before its proof is handed out.
        #[arg(long)]
        log: Option<String>,
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
        /// Which keys.
        #[command(flatten)]
        keys: KeysArgs,
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

/// `work`'s result, computed under a spinner showing `msg` (keys and proofs take seconds).
fn spinning<T>(msg: &str, work: impl FnOnce() -> T) -> T {
    let pb = indicatif::ProgressBar::new_spinner().with_message(msg.to_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    let out = work();
    pb.finish_and_clear();
    out
}

/// The circuits `keys` serves (keys run to tens of megabytes).
fn served(k: &KeysArgs) -> Result<Served> {
    let msg = format!("reading keys in {}", k.keys.display());
    Ok(spinning(&msg, || Served::load(k))?)
}

fn written(out: &Path, bytes: &[u8]) -> Result<()> {
    veil_fs::write_atomic(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    outln!("{}", out.display());
    Ok(())
}

/// Run `veil zk …`.
pub fn zk(command: ZkCommand) -> Result<()> {
    match command {
        ZkCommand::Setup { circuit, out } => {
            let started = Instant::now();
            let msg = format!("generating development keys for {}", circuit.stem());
            let report = spinning(&msg, || zk::setup(&circuit, &out))?;
            let (pk, vk, secs) = (report.pk.display(), report.vk.display(), started.elapsed().as_secs_f64());
            outln!("{} constraints; keys in {secs:.1} s: {pk} and {vk}", report.constraints);
        }
        ZkCommand::ExportR1cs { circuit, out } => written(&out, &circuit.blank()?.r1cs()?)?,
        ZkCommand::ExportSolidity { vk, out } => written(&out, zk::solidity_verifier(&vk)?.as_bytes())?,
        ZkCommand::Serve { keys, tee, listen, queue, log } => {
            crate::init_tracing();
            let (exe, rt) = (crate::current_exe()?, crate::runtime()?);
            let log = log.map(|url| veil_stack::tlog::prover_log(&url, rt.handle().clone()));
            let prover = served(&keys)?.start(tee.backend()?.as_ref(), &exe, queue, crate::unix_now, log)?;
            rt.block_on(crate::serve(listen, veil_prover::router(prover), false))?;
        }
        ZkCommand::Pins { keys, out } => {
            let pins = served(&keys)?.pins()?;
            veil_fs::write_json(&out, &pins)?;
            outln!(
                "{} verifying key(s), {} model(s) → {}",
                pins.keys.len(),
                pins.models.len(),
                out.display()
            );
        }
        ZkCommand::Verify { vk, public, proof } => {
            let Some(n) = zk::verify_files(&vk, &public, &proof)? else {
                bail!("invalid proof: it does not verify for these public inputs (zk.invalid)");
            };
            outln!("valid proof ({n} public inputs)");
        }
    }
    Ok(())
}

/// Run `veil prove …`.
pub fn prove(command: ProveCommand) -> Result<()> {
    match command {
        ProveCommand::IncomeThreshold { pk, statement, out } => {
            let took = spinning("proving", || zk::prove_income(&pk, &statement, &out))?;
            outln!("proved in {:.2} s: {}", took.as_secs_f64(), out.join("proof.json").display());
        }
        ProveCommand::Inference { pk, model, features, row, salt, out } => {
            let input = match (features, row) {
                (Some(f), _) => ProofInput::features(&f)?,
                (None, Some(n)) => ProofInput::Row(n),
                (None, None) => bail!("give --features or --row"),
            };
            let proved =
                spinning("proving", || zk::prove_inference(&pk, &model, input, salt.as_deref(), &out))?;
            let expected = proved.label.map(|y| format!(" (held-out label {y})")).unwrap_or_default();
            outln!(
                "class {}{expected}; proved in {:.2} s: {}",
                proved.class,
                proved.took.as_secs_f64(),
                out.join("proof.json").display()
            );
        }
    }
    Ok(())
}

/// `veil bench zk`: a circuit's size, key generation, proving, verifying and memory.
pub fn bench(circuit: &CircuitArgs, runs: usize) -> Result<()> {
    outln!("{}", zk::bench(circuit, runs, veil_stack::bench::peak_rss)?);
    Ok(())
}
