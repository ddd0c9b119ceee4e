//! The command line: every subcommand and flag, with its help text. Parsing only;
//! `main.rs` dispatches and each module runs its commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::store_args::StoreArgs;
use crate::{attest, bench, chain, infer, model, oracle, up, worker, zk};

#[derive(Parser)]
#[command(name = "veil", version, about = "Private ML with results anyone can check")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// The serving marketplace: list, fund, ack, chat, balance, refund, audit; settle, serve.
    Market {
        #[command(flatten)]
        ledger: chain::LedgerArgs,
        #[command(subcommand)]
        command: veil_stack::marketplace::MarketCommand,
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
        root: veil_content::Root,
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
        /// Its transparency-log inclusion, and the log's anchor.
        #[command(flatten)]
        log: veil_stack::tlog::LogCheck,
    },
    /// Run every role on this machine (chain, store, key broker, gateway, attested
    /// workers) on embedded defaults, until interrupted.
    Up(up::UpArgs),
    /// Run an attested worker process (`veil up` starts these).
    Worker(worker::WorkerArgs),
    /// Run the attestation verifier (the registry's oracle) in its own enclave: it
    /// vouches for provers' enclave keys with statements the prover registry admits.
    Oracle(oracle::OracleArgs),
    /// Ask a gateway for inference over rows of a token's data, signed with your wallet.
    Infer(infer::InferArgs),
    /// Sign an access grant for a token's documents and print it: the API key for
    /// OpenAI and Ollama clients (and `veil chat`).
    Grant(crate::chat::GrantArgs),
    /// Ask a question over a token's documents; the answer streams, its receipt is saved.
    Chat(crate::chat::ChatArgs),
    /// Challenge a gateway's worker with a fresh nonce and verify the evidence.
    Attestation(infer::AttestationArgs),
    /// Zero-knowledge keys and verification (Groth16, snarkjs JSON).
    Zk {
        #[command(subcommand)]
        command: zk::ZkCommand,
    },
    /// FHE inference: client keys, encrypted queries, evaluation, decryption.
    Fhe {
        #[command(subcommand)]
        command: crate::fhe::FheCommand,
    },
    /// Make a zero-knowledge proof.
    Prove {
        #[command(subcommand)]
        command: zk::ProveCommand,
    },
    /// The transparency log: keys, serving, checkpoints and their consistency.
    Log {
        #[command(subcommand)]
        command: veil_stack::tlog::LogCommand,
    },
    /// Federated learning: keys, an owner's rounds, a client's part in them.
    Fl {
        #[command(subcommand)]
        command: veil_stack::fl::FlCommand,
    },
    /// Train a model inside the gateway's attested worker on a token's sealed table,
    /// as a paid job completed on chain by the enclave's signature.
    Train(veil_stack::train::TrainOptions),
    /// Measure Veil against its reference tools, side by side in one run.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Attested inference vs tract directly, then `POST /v1/infer` under wrk load.
    Gateway(bench::BenchArgs),
    /// A GGUF language model in bare candle: time to first token and decode rate.
    Llm(bench::LlmBenchArgs),
    /// FHE on a bundled linear model's held-out split beside the plaintext model:
    /// times, sizes and accuracy.
    Fhe(veil_stack::fhe::FheBenchOptions),
    /// The transparency log: durable appends beside a bare fsynced file, and
    /// inclusion proofs from tiles beside proofs from memory.
    Log(veil_stack::tlog::LogBenchOptions),
    /// One secure-aggregation round: aggregator and client CPU.
    Secagg(veil_stack::fl::SecAggBenchOptions),
    /// A federation in one process: held-out accuracy and wall time per round.
    Fl(veil_stack::fl::FlBenchOptions),
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
pub enum AttestCommand {
    /// Verify evidence (an Intel TDX/SGX quote or an AMD SEV-SNP report, raw or hex)
    /// and print its claims as JSON.
    Verify(attest::VerifyArgs),
}

#[derive(Subcommand)]
pub enum KmsCommand {
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
        token: veil_protocol::TokenId,
    },
}

#[derive(Subcommand)]
pub enum SimTeeCommand {
    /// Create a development PKI in DIR: `seed` (0600) and `dev-root.pem`, the root a
    /// broker must name in `dev_roots` to accept this simulator's evidence.
    Init {
        /// Directory to create the PKI in.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print the measurement id a simulated worker reports for a binary, config and model.
    Measure {
        /// The worker's executable.
        #[arg(long)]
        binary: PathBuf,
        /// Its configuration (JSON; canonicalised before hashing).
        #[arg(long)]
        config: PathBuf,
        /// The model's weights root (0x…).
        #[arg(long)]
        model_root: veil_content::Root,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check every entry's hash chain; exit 0 and print the head, or 1 and the broken line.
    Verify {
        /// The audit log (JSON lines).
        log: PathBuf,
        /// A head recorded elsewhere (LEN:sha256:HEX) the log must still reach.
        #[arg(long)]
        head: Option<veil_audit::Head>,
    },
}

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Store a file (or `-` for stdin) and print its root.
    Put {
        /// The file.
        file: PathBuf,
    },
    /// Fetch a blob by root into OUT (written only if it verifies).
    Get {
        /// The blob's root.
        root: veil_content::Root,
        /// Destination file.
        out: PathBuf,
    },
    /// Fetch one 256 KiB segment, verified, with its proof in OUT.proof.json.
    Segment {
        /// The blob's root.
        root: veil_content::Root,
        /// Segment index, from 0.
        index: u64,
        /// Destination for the segment's bytes.
        out: PathBuf,
    },
}
