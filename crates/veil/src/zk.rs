//! `veil zk …` and `veil prove …`: Groth16 keys, proofs and verification from the
//! command line, with files in snarkjs's JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use veil_zk::income::{IncomeInput, IncomeThreshold};
use veil_zk::{groth, snarkjs};

use crate::io;

/// `veil zk …`.
#[derive(Subcommand)]
pub enum ZkCommand {
    /// Development keys for the income-threshold circuit (anyone who saw the
    /// randomness could forge proofs: production keys come from a ceremony).
    Setup {
        /// Payment slots in the circuit.
        #[arg(long, default_value_t = veil_zk::income::SLOTS)]
        slots: usize,
        /// Directory for income-<slots>.pk and income-<slots>.vk.json.
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
    /// Run the proof server (`POST /v1/prove/income-threshold`, `GET /v1/proofs/{id}`,
    /// `POST /v1/proofs/{id}/verify`, `GET /v1/prover`, `GET /v1/health`).
    Serve {
        /// The directory `veil zk setup` wrote.
        #[arg(long)]
        keys: PathBuf,
        /// The circuit's slots (which keys to load).
        #[arg(long, default_value_t = veil_zk::income::SLOTS)]
        slots: usize,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:7080")]
        listen: std::net::SocketAddr,
        /// Jobs that may wait.
        #[arg(long, default_value_t = 64)]
        queue: usize,
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
        ZkCommand::Setup { slots, out } => {
            veil_fs::create_private_dir(&out)?;
            let pb = spinner(&format!("generating development keys for {slots} slots"));
            let started = Instant::now();
            let keys = groth::dev_setup(IncomeThreshold::blank(slots), &mut groth::os_rng()?)?;
            pb.finish_and_clear();
            let pk = out.join(format!("income-{slots}.pk"));
            let vk = out.join(format!("income-{slots}.vk.json"));
            veil_fs::write_atomic(&pk, &groth::pk_to_bytes(&keys.pk)?)?;
            veil_fs::write_atomic(
                &vk,
                serde_json::to_string_pretty(&snarkjs::vk_to_json(&keys.vk))?.as_bytes(),
            )?;
            outln!(
                "{} constraints; keys in {:.1} s: {} and {}",
                groth::constraints(IncomeThreshold::blank(slots))?,
                started.elapsed().as_secs_f64(),
                pk.display(),
                vk.display()
            );
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
            listen,
            queue,
        } => {
            let pk = groth::pk_from_bytes(&io::read_limited(
                &keys.join(format!("income-{slots}.pk")),
                1 << 30,
            )?)?;
            let vk = snarkjs::vk_from_json(&read_json(&keys.join(format!("income-{slots}.vk.json")))?)?;
            let prover = veil_prover::Prover::start(veil_prover::ProverParts {
                identity: veil_seal::Identity::generate()?,
                keys: groth::Keys { pk, vk },
                slots,
                queue_capacity: queue,
                clock: crate::unix_now,
            });
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
            let pk = groth::pk_from_bytes(&io::read_limited(&pk, 1 << 30)?)?;
            pb.set_message("proving");
            let started = Instant::now();
            let (proof, public) = groth::prove_income(&pk, statement, &mut groth::os_rng()?)?;
            pb.finish_and_clear();
            veil_fs::create_private_dir(&out)?;
            veil_fs::write_atomic(
                out.join("proof.json"),
                serde_json::to_string_pretty(&snarkjs::proof_to_json(&proof))?.as_bytes(),
            )?;
            veil_fs::write_atomic(
                out.join("public.json"),
                snarkjs::public_to_json(&public).to_string().as_bytes(),
            )?;
            outln!(
                "proved in {:.2} s: {}",
                started.elapsed().as_secs_f64(),
                out.join("proof.json").display()
            );
        }
    }
    Ok(())
}

/// `veil bench zk`: the income circuit's size, key generation, proving and verifying.
pub fn bench(slots: usize, runs: usize) -> Result<()> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let constraints = groth::constraints(IncomeThreshold::blank(slots))?;
    let t = Instant::now();
    let keys = groth::dev_setup(IncomeThreshold::blank(slots), &mut groth::os_rng()?)?;
    let setup = t.elapsed();
    let statement = IncomeThreshold {
        account: veil_zk::Fr::from(0xa11ce_u64),
        epoch: 202611,
        amounts: (0..slots as u64).map(|i| 1_000 + i).collect(),
        salt: veil_zk::Fr::from(7u64),
        threshold: 1_000 * slots as u128,
        slots,
    };
    let mut prove = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(groth::prove_income(
            &keys.pk,
            statement.clone(),
            &mut groth::os_rng()?,
        )?);
        prove.push(t.elapsed());
    }
    let (proof, public) = last.context("no proof")?;
    let mut verify = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        if !groth::verify(&keys.vk, &public, &proof)? {
            bail!("a fresh proof did not verify");
        }
        verify.push(t.elapsed());
    }
    prove.sort();
    verify.sort();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    outln!("| slots | constraints | setup | prove (median of {runs}) | verify (median of 100) | peak RSS |");
    outln!("|---|---|---|---|---|---|");
    outln!(
        "| {slots} | {constraints} | {:.2} s | {:.3} s | {:.2} ms | {peak} |",
        setup.as_secs_f64(),
        prove[prove.len() / 2].as_secs_f64(),
        verify[verify.len() / 2].as_secs_f64() * 1000.0
    );
    Ok(())
}
