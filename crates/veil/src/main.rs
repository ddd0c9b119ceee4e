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
mod chat;
mod cli;
mod demo;
mod fhe;
mod files;
mod fl;
mod infer;
mod kms;
mod log;
mod model;
mod oracle;
mod process;
mod sim_tee;
mod store_args;
mod up;
mod worker;
mod zk;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser as _;

use crate::cli::{AttestCommand, BenchCommand, Cli, Command};
use crate::process::{current_exe, init_tracing, runtime, serve, unix_now};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors on one line like every other error (clap adds a usage block and
        // a pointer to --help); exit 2 as clap does.
        Err(e) if e.use_stderr() => {
            let text = e.render().to_string();
            let lines: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("veil: {}", lines.join(" ").trim_start_matches("error: "));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
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
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain().map(ToString::to_string) {
        if !parts.iter().any(|p| p.contains(&cause)) {
            parts.push(cause);
        }
    }
    parts.join(": ").replace('\n', " ")
}

fn run(cli: Cli) -> Result<ExitCode> {
    use chain::LedgerCommand as L;
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Demo { dir } => done(demo::run(dir)),
        Command::Chain { ledger, command } => done(chain::chain(&ledger, command)),
        Command::Nft { ledger, command } => chain::ledger(&ledger, L::Nft(command)),
        Command::Job { ledger, command } => chain::ledger(&ledger, L::Job(command)),
        Command::Prover { ledger, command } => chain::ledger(&ledger, L::Prover(command)),
        Command::Market { ledger, command } => chain::market(&ledger, command),
        Command::Root { file } => done(files::root(&file)),
        Command::Keygen { out } => done(files::keygen(&out)),
        Command::Seal { to, input, output } => done(files::seal(&to, &input, &output)),
        Command::Open { key, input, output } => done(files::open(&key, &input, &output)),
        Command::Model { store, index, command } => done(model::run(&store, index, command)),
        Command::Store { store, command } => done(files::store(&store, command)),
        Command::VerifySegment { root, proof, segment: s } => done(files::verify_segment(&root, &proof, &s)),
        Command::Attest { command: AttestCommand::Verify(args) } => done(attest::run(args)),
        Command::Kms { command } => done(kms::run(command)),
        Command::SimTee { command } => done(sim_tee::run(command)),
        Command::Up(args) => done(up::run(args)),
        Command::Worker(args) => done(worker::run(args)),
        Command::Oracle(args) => done(oracle::run(args)),
        Command::Infer(args) => done(infer::infer(args)),
        Command::Grant(args) => done(chat::grant(args)),
        Command::Chat(args) => done(chat::chat(args)),
        Command::Bench { command: BenchCommand::Gateway(args) } => done(bench::run(args)),
        Command::Bench { command: BenchCommand::Llm(args) } => done(bench::llm(args)),
        Command::Bench { command: BenchCommand::Zk { circuit, runs } } => done(zk::bench(&circuit, runs)),
        Command::Zk { command } => done(zk::zk(command)),
        Command::Fhe { command } => done(fhe::run(command)),
        Command::Bench { command: BenchCommand::Fhe(o) } => done(bench::fhe(o)),
        Command::Bench { command: BenchCommand::Log(o) } => done(bench::log(&o)),
        Command::Bench { command: BenchCommand::Secagg(o) } => done(bench::secagg(&o)),
        Command::Bench { command: BenchCommand::Fl(o) } => done(bench::fl(&o)),
        Command::Prove { command } => done(zk::prove(command)),
        Command::Attestation(args) => done(infer::attestation(args)),
        Command::Verify { receipt, trust, log } => done(infer::verify(&receipt, &trust, &log)),
        Command::Log { command } => done(log::run(command)),
        Command::Fl { command } => done(fl::run(command)),
        Command::Train(o) => done(fl::train(&o)),
    }
}
