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
mod demo;
mod infer;
mod io;
mod kms;
mod model;
mod sim_tee;
mod store_args;
mod up;
mod worker;
mod zk;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use veil_content::{Root, SegmentProof};
use veil_seal::PublicKey;

use crate::io::{Input, Output};
use crate::store_args::StoreArgs;

#[derive(Parser)]
#[command(name = "veil", version, about = "Private ML with results anyone can check")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the main job end to end on embedded defaults and explain each step.
    Demo {
        /// Keep the demo's files in DIR (default: a temporary directory, removed after).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print a file's 0G Storage root (0x + 64 hex digits); `-` reads stdin.
    Root {
        /// The file.
        file: PathBuf,
    },
    /// Create an identity file (mode 0600) and print its public key.
    Keygen {
        /// Where to write the identity; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Seal a file to one or more public keys.
    Seal {
        /// Recipients' public keys (veilpk1…), comma-separated or repeated.
        #[arg(long, required = true, value_delimiter = ',')]
        to: Vec<String>,
        /// Input file, or `-` for stdin.
        input: PathBuf,
        /// Output file, or `-` for stdout.
        output: PathBuf,
    },
    /// Open a sealed file with an identity.
    Open {
        /// The identity file.
        #[arg(long)]
        key: PathBuf,
        /// Sealed input, or `-` for stdin.
        input: PathBuf,
        /// Plaintext output, or `-` for stdout (written only if everything verifies,
        /// except on stdout, where a failure is reported after the fact).
        output: PathBuf,
    },
    /// The embedded chain: create, serve, inspect, deploy, keys and funds.
    Chain {
        #[command(flatten)]
        ledger: chain::LedgerArgs,
        #[command(subcommand)]
        command: chain::ChainCommand,
    },
    /// Intelligent NFTs: mint over sealed data, authorize and revoke users.
    Nft {
        #[command(flatten)]
        ledger: chain::LedgerArgs,
        #[command(subcommand)]
        command: chain::NftCommand,
    },
    /// Jobs with escrowed fees, completed by attested provers.
    Job {
        #[command(flatten)]
        ledger: chain::LedgerArgs,
        #[command(subcommand)]
        command: chain::JobCommand,
    },
    /// The prover registry.
    Prover {
        #[command(flatten)]
        ledger: chain::LedgerArgs,
        #[command(subcommand)]
        command: chain::ProverCommand,
    },
    /// The model registry: ONNX files addressed by their weights root.
    Model {
        #[command(flatten)]
        store: StoreArgs,
        /// The registry's index (default: models.json in a local store's directory).
        #[arg(long, global = true)]
        index: Option<PathBuf>,
        #[command(subcommand)]
        command: model::ModelCommand,
    },
    /// Content-addressed blob store.
    Store {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Check a segment and its inclusion proof against a root.
    VerifySegment {
        /// The file's root.
        root: String,
        /// The proof (JSON, as written by `veil store segment`).
        proof: PathBuf,
        /// The segment's bytes.
        segment: PathBuf,
    },
    /// Remote attestation evidence.
    Attest {
        #[command(subcommand)]
        command: AttestCommand,
    },
    /// The key broker.
    Kms {
        #[command(subcommand)]
        command: KmsCommand,
    },
    /// The simulated TEE (machines without TDX): its development PKI and measurements.
    SimTee {
        #[command(subcommand)]
        command: SimTeeCommand,
    },
    /// Verify a receipt offline — its signature, the evidence binding the signing key
    /// (at the receipt's time), and its event log: exit 0 and a summary when valid, 1
    /// and the reason when not.
    Verify {
        /// The receipt file.
        receipt: PathBuf,
        /// Whose evidence to trust.
        #[command(flatten)]
        trust: infer::TrustArgs,
    },
    /// Run every role on this machine (chain, store, key broker, gateway, attested
    /// workers) on embedded defaults, until interrupted.
    Up {
        /// The stack's directory (default: the user's data directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Where the gateway listens.
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: std::net::SocketAddr,
        /// Worker processes.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// The executable workers run (default: this one); a binary not on the
        /// broker's allowlist is refused its keys.
        #[arg(long)]
        worker_exe: Option<PathBuf>,
        /// Put this build's worker measurement on the broker's allowlist (after a rebuild).
        #[arg(long)]
        allow_current_worker: bool,
    },
    /// Run an attested worker process (`veil up` starts these).
    Worker(worker::WorkerArgs),
    /// Ask a gateway for inference over rows of a token's data, signed with your wallet.
    Infer(infer::InferArgs),
    /// Challenge a gateway's worker with a fresh nonce and verify the evidence.
    Attestation(infer::AttestationArgs),
    /// Zero-knowledge keys and verification (Groth16, snarkjs JSON).
    Zk {
        #[command(subcommand)]
        command: zk::ZkCommand,
    },
    /// Make a zero-knowledge proof.
    Prove {
        #[command(subcommand)]
        command: zk::ProveCommand,
    },
    /// Measure Veil against its reference tools, side by side in one run.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Attested inference vs tract directly, then `POST /v1/infer` under wrk load.
    Gateway(bench::BenchArgs),
    /// A circuit's constraints, key generation, proving, verifying and peak memory.
    Zk {
        /// The circuit.
        #[command(flatten)]
        circuit: zk::CircuitArgs,
        /// Proofs to time.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

#[derive(Subcommand)]
enum AttestCommand {
    /// Verify evidence (an Intel TDX/SGX quote or an AMD SEV-SNP report, raw or hex)
    /// and print its claims as JSON.
    Verify {
        /// The evidence file.
        #[arg(long)]
        evidence: PathBuf,
        /// Collateral (Intel: the PCCS collateral JSON; AMD: the VCEK or VLEK, DER).
        #[arg(long)]
        collateral: Option<PathBuf>,
        /// Verification time (RFC 3339); default now. Pin it to check archived evidence.
        #[arg(long)]
        at: Option<String>,
        /// Policy file (TOML); default: only fully up-to-date platforms.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// AMD's CRL for the product (DER, from KDS), checked with a raw SEV-SNP report.
        #[arg(long)]
        crl: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KmsCommand {
    /// Run the key broker (challenge → attest → resource over HTTP) until interrupted.
    Serve {
        /// The broker's configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// The key broker's audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the public key a token's data is sealed to (for `veil seal --to`).
    TokenKey {
        /// The broker's URL (as `veil kms serve` printed it).
        #[arg(long)]
        url: String,
        /// The token id (decimal).
        token: String,
    },
}

#[derive(Subcommand)]
enum SimTeeCommand {
    /// Create a development PKI in DIR: `seed` (0600) and `dev-root.pem`, the root a
    /// broker must name in `dev_roots` to accept this simulator's evidence.
    Init {
        /// Directory to create the PKI in.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print the MRTD a simulated worker reports for a binary, config and model.
    Measure {
        /// The worker's executable.
        #[arg(long)]
        binary: PathBuf,
        /// Its configuration (JSON; canonicalised before hashing).
        #[arg(long)]
        config: PathBuf,
        /// The model's weights root (0x…).
        #[arg(long)]
        model_root: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every entry's hash chain; exit 0 and print the head, or 1 and the broken line.
    Verify {
        /// The audit log (JSON lines).
        log: PathBuf,
        /// A head recorded elsewhere (LEN:sha256:HEX) the log must still reach.
        #[arg(long)]
        head: Option<String>,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Store a file (or `-` for stdin) and print its root.
    Put {
        /// The file.
        file: PathBuf,
    },
    /// Fetch a blob by root into OUT (written only if it verifies).
    Get {
        /// The blob's root.
        root: String,
        /// Destination file.
        out: PathBuf,
    },
    /// Fetch one 256 KiB segment, verified, with its proof in OUT.proof.json.
    Segment {
        /// The blob's root.
        root: String,
        /// Segment index, from 0.
        index: u64,
        /// Destination for the segment's bytes.
        out: PathBuf,
    },
}

/// Largest receipt `veil verify` reads: receipts are small; this stops a hostile file.
const MAX_RECEIPT_BYTES: u64 = 16 << 20;

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

fn parse_root(s: &str) -> Result<Root> {
    s.parse::<Root>().map_err(Into::into)
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
        Command::Root { file } => {
            let input = Input::open(&file)?;
            let (root, _) =
                veil_content::root_of_reader(input).with_context(|| format!("hashing {}", file.display()))?;
            outln!("{root}");
        }
        Command::Keygen { out } => {
            outln!("{}", veil_stack::keys::new_identity(&out)?);
        }
        Command::Seal { to, input, output } => {
            let recipients = to
                .iter()
                .map(|s| s.parse::<PublicKey>())
                .collect::<Result<Vec<_>, _>>()?;
            let reader = Input::open(&input)?;
            let mut out = Output::create(&output)?;
            veil_seal::seal(reader, &mut out, &recipients)?;
            out.commit()?;
        }
        Command::Open { key, input, output } => {
            let id = io::read_identity(&key)?;
            let reader = Input::open(&input)?;
            let mut out = Output::create(&output)?;
            veil_seal::open(reader, &mut out, &id).with_context(|| format!("opening {}", input.display()))?;
            out.commit()?;
        }
        Command::Model {
            store,
            index,
            command,
        } => model::run(&store, index, command)?,
        Command::Store { store, command } => {
            let rt = runtime()?;
            let store = store.open()?;
            rt.block_on(async {
                match command {
                    StoreCommand::Put { file } => {
                        let put = if file.as_os_str() == "-" {
                            store.put_reader(std::io::stdin()).await?
                        } else {
                            store
                                .put_path(&file)
                                .await
                                .with_context(|| format!("storing {}", file.display()))?
                        };
                        outln!("{}", put.root);
                    }
                    StoreCommand::Get { root, out } => {
                        store.get_to_path(&parse_root(&root)?, &out).await?;
                    }
                    StoreCommand::Segment { root, index, out } => {
                        let seg = store.get_segment(&parse_root(&root)?, index).await?;
                        let proof_path = io::sibling(&out, ".proof.json");
                        veil_fs::write_atomic(&out, &seg.data)?;
                        veil_fs::write_atomic(
                            &proof_path,
                            serde_json::to_string_pretty(&seg.proof)?.as_bytes(),
                        )?;
                        outln!(
                            "segment {index}: {} bytes, proof in {}",
                            seg.data.len(),
                            proof_path.display()
                        );
                    }
                }
                anyhow::Ok(())
            })?;
        }
        Command::VerifySegment { root, proof, segment } => {
            let root = parse_root(&root)?;
            let proof: SegmentProof = serde_json::from_slice(&io::read_limited(&proof, 1 << 20)?)
                .with_context(|| format!("reading proof {}", proof.display()))?;
            let data = io::read_limited(&segment, veil_content::SEGMENT_SIZE)?;
            proof.verify(&root, &data)?;
            outln!(
                "segment {} of {root} verified ({} bytes)",
                proof.index,
                data.len()
            );
        }
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
            let args = attest::VerifyArgs {
                evidence,
                collateral,
                at,
                policy,
                crl,
            };
            match attest::verify(&args)? {
                Ok(claims) => outln!("{}", serde_json::to_string_pretty(&claims)?),
                Err(e) => {
                    eprintln!("veil: attestation refused ({}): {e}", e.code());
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Kms {
            command: KmsCommand::Serve { config },
        } => {
            init_tracing();
            kms::serve(&config)?;
        }
        Command::Kms {
            command: KmsCommand::TokenKey { url, token },
        } => {
            let token: veil_protocol::TokenId = token.parse()?;
            let key = runtime()?.block_on(veil_kms_client::KmsClient::new(&url).token_public_key(token))?;
            outln!("{key}");
        }
        Command::SimTee {
            command: SimTeeCommand::Init { dir },
        } => {
            veil_stack::pki::init(&dir)?;
            outln!(
                "dev PKI in {}; trust it only by naming {} in a broker's dev_roots",
                dir.display(),
                dir.join("dev-root.pem").display()
            );
        }
        Command::SimTee {
            command:
                SimTeeCommand::Measure {
                    binary,
                    config,
                    model_root,
                },
        } => {
            let m = sim_tee::measure(&binary, &config, &model_root)?;
            outln!("{}", hex::encode(m.mr_td()));
        }
        Command::Kms {
            command:
                KmsCommand::Audit {
                    command: AuditCommand::Verify { log, head },
                },
        } => {
            let expected = head
                .map(|h| h.parse::<veil_audit::Head>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            match veil_audit::verify(&log, expected) {
                Ok(h) => outln!("audit log intact: {} entries, head {h}", h.len),
                Err(veil_audit::AuditError::Io(e)) => {
                    return Err(anyhow::Error::new(e).context(format!("reading {}", log.display())));
                }
                Err(e) => {
                    eprintln!("veil: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Up {
            dir,
            listen,
            workers,
            worker_exe,
            allow_current_worker,
        } => {
            init_tracing();
            let dir = match dir {
                Some(d) => d,
                None => up::default_dir()?,
            };
            up::run(veil_stack::stack::UpOptions {
                worker_exe,
                allow_current_worker,
                ..up::options(dir, listen, workers)?
            })?;
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
        Command::Verify { receipt, trust } => {
            let bytes = io::read_limited(&receipt, MAX_RECEIPT_BYTES)?;
            match veil_verify::verify(&bytes, &trust.trust()?) {
                Ok(v) => outln!("{}", v.summary()),
                Err(e) => {
                    eprintln!("veil: invalid receipt {}: {e} ({})", receipt.display(), e.code());
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
