//! `veil`: the one binary. It parses arguments, reads files and the environment, and
//! wires the library crates together; the work itself lives in those crates.
#![forbid(unsafe_code)]

/// `println!` that treats a closed stdout (`veil … | head`) as the end of the run,
/// exiting 141 as a SIGPIPE would, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            eprintln!("veil: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

mod attest;
mod bench;
mod chain;
mod cli;
mod demo;
mod files;
mod infer;
mod io;
mod kms;
mod model;
mod sim_tee;
mod store_args;
mod up;
mod worker;
mod zk;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{AttestCommand, AuditCommand, BenchCommand, Cli, Command, KmsCommand, SimTeeCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("veil: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error chain on one line, without repeating a cause its context already quotes.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out.replace('\n', " ")
}

/// Log to stderr; `RUST_LOG` (read here, in the binary only) sets the filter.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // arkworks wraps every gadget call in a span on target `gr1cs`; recording them
    // makes a proof hundreds of times slower.
    let filter = match "gr1cs=off".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Unix seconds now (the binary owns the clock; libraries are handed it).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo { dir } => demo::run(dir)?,
        Command::Chain { ledger, command } => {
            if matches!(command, chain::ChainCommand::Start { .. }) {
                init_tracing();
            }
            return chain::chain(&ledger, command);
        }
        Command::Nft { ledger, command } => return chain::nft(&ledger, command),
        Command::Job { ledger, command } => return chain::job(&ledger, command),
        Command::Prover { ledger, command } => return chain::prover(&ledger, command),
        Command::Root { file } => files::root(&file)?,
        Command::Keygen { out } => files::keygen(&out)?,
        Command::Seal { to, input, output } => files::seal(&to, &input, &output)?,
        Command::Open { key, input, output } => files::open(&key, &input, &output)?,
        Command::Model {
            store,
            index,
            command,
        } => model::run(&store, index, command)?,
        Command::Store { store, command } => files::store(&store, command)?,
        Command::VerifySegment { root, proof, segment } => files::verify_segment(&root, &proof, &segment)?,
        Command::Attest {
            command:
                AttestCommand::Verify {
                    evidence,
                    collateral,
                    at,
                    policy,
                    crl,
                },
        } => {
            return attest::run(&attest::VerifyArgs {
                evidence,
                collateral,
                at,
                policy,
                crl,
            });
        }
        Command::Kms {
            command: KmsCommand::Serve { config },
        } => {
            init_tracing();
            kms::serve(&config)?;
        }
        Command::Kms {
            command: KmsCommand::TokenKey { url, token },
        } => kms::token_key(&url, &token)?,
        Command::Kms {
            command:
                KmsCommand::Audit {
                    command: AuditCommand::Verify { log, head },
                },
        } => return kms::audit_verify(&log, head),
        Command::SimTee {
            command: SimTeeCommand::Init { dir },
        } => sim_tee::init(&dir)?,
        Command::SimTee {
            command:
                SimTeeCommand::Measure {
                    binary,
                    config,
                    model_root,
                },
        } => sim_tee::print_measurement(&binary, &config, &model_root)?,
        Command::Up {
            dir,
            listen,
            workers,
            worker_exe,
            allow_current_worker,
        } => {
            init_tracing();
            up::run_command(dir, listen, workers, worker_exe, allow_current_worker)?;
        }
        Command::Worker(args) => {
            init_tracing();
            worker::run(args)?;
        }
        Command::Infer(args) => infer::infer(args)?,
        Command::Bench {
            command: BenchCommand::Gateway(args),
        } => bench::run(args)?,
        Command::Bench {
            command: BenchCommand::Zk { circuit, runs },
        } => zk::bench(&circuit, runs)?,
        Command::Zk { command } => {
            if matches!(command, zk::ZkCommand::Serve { .. }) {
                init_tracing();
            }
            return zk::zk(command);
        }
        Command::Prove { command } => zk::prove(command)?,
        Command::Attestation(args) => infer::attestation(args)?,
        Command::Verify { receipt, trust } => return infer::verify(&receipt, &trust),
    }
    Ok(ExitCode::SUCCESS)
}
