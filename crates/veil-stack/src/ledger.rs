//! The ledger as the stack and the CLI reach it: the embedded chain in a directory
//! (created with Veil's contracts on first use) or any EVM JSON-RPC endpoint, with
//! an optional signer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::{Address, B256, U256, utils::parse_ether};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use veil_chain::{EmbeddedTransport, Genesis, Node, Rpc};
use veil_ledger::{ChainClient, Deployment};

use crate::keys::{new_wallet_key, read_wallet_key};
use crate::{Result, StackError};

/// The operator key's file name in an embedded chain's directory.
pub const OPERATOR_KEY: &str = "operator.key";
/// The deployment file's name in an embedded chain's directory.
pub const DEPLOYMENT: &str = "deployment.json";

/// A clock the embedded chain stamps blocks with, from the binary's clock.
#[derive(Debug, Clone, Copy)]
pub struct FnClock(pub fn() -> u64);

impl veil_chain::Clock for FnClock {
    fn now(&self) -> u64 {
        (self.0)()
    }
}

/// Where the ledger is and who signs (also the ledger flags of `veil chain`, `nft`,
/// `job` and `prover`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LedgerTarget {
    /// Any EVM JSON-RPC endpoint (default: the embedded chain in --chain-dir).
    #[arg(long, global = true)]
    pub rpc: Option<String>,
    /// The embedded chain's directory (default: the user's data directory).
    #[arg(long, global = true)]
    pub chain_dir: Option<PathBuf>,
    /// The signer's key file (hex secp256k1, mode 0600; default on the embedded
    /// chain: its operator key).
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// The contracts' addresses (JSON; default on the embedded chain: its own).
    #[arg(long, global = true)]
    pub deployment: Option<PathBuf>,
}

/// A connected ledger; holds the embedded node (and its lock) while in use.
pub struct Ledger {
    /// The client, signing as `signer`.
    pub client: ChainClient<DynProvider>,
    /// The signing account, if a key was given.
    pub signer: Option<Address>,
    /// The embedded chain, when not talking to an endpoint.
    pub embedded: Option<Rpc>,
}

impl Ledger {
    /// Chain id, head block, base fee, contracts and (embedded) the chain's files.
    pub async fn status(&self) -> Result<serde_json::Value> {
        let p = self.client.provider();
        let rpc = |e: alloy::transports::TransportError| StackError::Config(format!("chain RPC: {e}"));
        let head = p.get_block_number().await.map_err(rpc)?;
        let block = p.get_block_by_number(head.into()).await.map_err(rpc)?;
        let mut status = serde_json::json!({
            "chain_id": self.client.chain_id(),
            "head": head,
            "base_fee": block.and_then(|b| b.header.base_fee_per_gas),
            "contracts": self.client.deployment(),
        });
        if let Some(rpc) = &self.embedded {
            let n = rpc.node();
            status["embedded"] = serde_json::json!({
                "dir": n.dir().map(|d| d.display().to_string()),
                "log_bytes": n.log_bytes(),
            });
        }
        Ok(status)
    }

    /// The signing account, or why a transaction cannot be sent.
    pub fn signer(&self) -> Result<Address> {
        self.signer.ok_or_else(|| StackError::Config("this sends a transaction: pass --key FILE".into()))
    }
}

/// Read a deployment file (contract addresses, as `init` and `deploy` write them).
pub fn read_deployment(path: &Path) -> Result<Deployment> {
    let bytes = veil_fs::read_limited(path, 64 * 1024)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| StackError::Config(format!("reading deployment {}: {e}", path.display())))
}

/// Write a deployment file atomically.
pub fn write_deployment(path: &Path, d: &Deployment) -> Result<()> {
    veil_fs::write_json(path, d).map_err(StackError::io(format!("writing {}", path.display())))
}

/// Create the embedded chain in `dir`: an operator key funded at genesis (plus
/// `fund`), Veil's contracts deployed by it, and their addresses in deployment.json.
pub async fn init(
    dir: &Path,
    chain_id: u64,
    fund: &[(Address, U256)],
    clock: fn() -> u64,
) -> Result<(Deployment, Address)> {
    if dir.join("genesis.json").exists() {
        return Err(StackError::Config(format!("{} already holds a chain", dir.display())));
    }
    veil_fs::create_private_dir(dir).map_err(StackError::io(format!("creating {}", dir.display())))?;
    let key_path = dir.join(OPERATOR_KEY);
    let operator = new_wallet_key(&key_path)?;
    let mut alloc: BTreeMap<Address, U256> = fund.iter().copied().collect();
    alloc.insert(operator, parse_ether("1000000").map_err(|e| StackError::Config(e.to_string()))?);
    let genesis = Genesis::new(chain_id, clock(), alloc);
    let (node, _) = Node::open(dir, &genesis)?;
    let rpc = Rpc::new(node, Arc::new(FnClock(clock)));
    let provider = embedded_provider(&rpc, Some(read_wallet_key(&key_path)?));
    let client = ChainClient::deploy(provider, operator, operator, operator).await?;
    client.set_job_registry().await?;
    let d = client.deployment();
    write_deployment(&dir.join(DEPLOYMENT), &d)?;
    Ok((d, operator))
}

/// Deploy Veil's contracts on the chain at `url` with `signer` (treasury and
/// insurance default to it).
pub async fn deploy(url: &str, signer: PrivateKeySigner) -> Result<ChainClient<DynProvider>> {
    let me = signer.address();
    let provider = ProviderBuilder::new().wallet(signer).connect_http(parse_url(url)?).erased();
    let client = ChainClient::deploy(provider, me, me, me).await?;
    client.set_job_registry().await?;
    Ok(client)
}

fn parse_url(url: &str) -> Result<alloy::transports::http::reqwest::Url> {
    url.parse().map_err(|_| StackError::Config(format!("--rpc {url} is not a URL")))
}

pub(crate) fn embedded_provider(rpc: &Rpc, signer: Option<PrivateKeySigner>) -> DynProvider {
    let client = EmbeddedTransport::new(rpc.clone()).client();
    match signer {
        Some(s) => ProviderBuilder::new().wallet(s).connect_client(client).erased(),
        None => ProviderBuilder::new().connect_client(client).erased(),
    }
}

/// Open the embedded chain in `dir` (which must have been initialised), cutting (and
/// logging) a torn final append off its log.
pub fn open_embedded(dir: &Path, clock: fn() -> u64) -> Result<Rpc> {
    let genesis_path = dir.join("genesis.json");
    if !genesis_path.exists() {
        return Err(StackError::Config(format!(
            "no chain in {}: run `veil chain init` first (or pass --rpc URL)",
            dir.display()
        )));
    }
    let genesis = Genesis::load(&genesis_path)?;
    let (node, report) = Node::open(dir, &genesis)?;
    if report.truncated > 0 {
        tracing::warn!(
            bytes = report.truncated,
            "cut a torn final append off the chain log (the process had stopped mid-write)"
        );
    }
    tracing::info!(chain_id = node.chain_id(), head = node.head(), dir = %dir.display(), "embedded chain open");
    Ok(Rpc::new(node, Arc::new(FnClock(clock))))
}

impl LedgerTarget {
    /// The embedded chain in `dir`, signing with its operator key.
    pub fn embedded(dir: PathBuf) -> Self {
        Self { chain_dir: Some(dir), ..Self::default() }
    }

    /// The signer's key (what `connect` signs transactions with), for signing
    /// messages too.
    pub fn signing_key(&self) -> Result<PrivateKeySigner> {
        let path = match (&self.rpc, &self.key, &self.chain_dir) {
            (_, Some(key), _) => key.clone(),
            (None, None, Some(dir)) => dir.join(OPERATOR_KEY),
            _ => return Err(StackError::Config("this signs as you: pass --key FILE".into())),
        };
        read_wallet_key(&path)
    }

    /// Connect as the configured signer (if any).
    pub async fn connect(&self, clock: fn() -> u64) -> Result<Ledger> {
        let (embedded, key, deployment) = match &self.rpc {
            Some(_) => (None, self.key.clone(), self.deployment.clone()),
            None => {
                let dir = self.chain_dir.clone().ok_or_else(|| {
                    StackError::Config(
                        "cannot find a home directory for the chain; pass --chain-dir DIR".into(),
                    )
                })?;
                let rpc = open_embedded(&dir, clock)?;
                (
                    Some(rpc),
                    Some(self.key.clone().unwrap_or(dir.join(OPERATOR_KEY))),
                    Some(self.deployment.clone().unwrap_or(dir.join(DEPLOYMENT))),
                )
            }
        };
        let deployment = read_deployment(&deployment.ok_or_else(|| {
            StackError::Config("--deployment FILE is needed with --rpc (see `veil chain deploy`)".into())
        })?)?;
        let signer = key.as_deref().map(read_wallet_key).transpose()?;
        let address = signer.as_ref().map(PrivateKeySigner::address);
        let provider = match (&embedded, &self.rpc) {
            (Some(rpc), _) => embedded_provider(rpc, signer),
            (None, Some(url)) => {
                let url = parse_url(url)?;
                match signer {
                    Some(s) => ProviderBuilder::new().wallet(s).connect_http(url).erased(),
                    None => ProviderBuilder::new().connect_http(url).erased(),
                }
            }
            (None, None) => unreachable!("no endpoint means the embedded chain"),
        };
        let client = ChainClient::connect(provider, deployment).await?;
        Ok(Ledger { client, signer: address, embedded })
    }
}

/// `veil job complete`: with a proof server's signed completion file, or with an
/// enclave's signature over a result and a receipt id.
pub async fn complete(
    client: &ChainClient<DynProvider>,
    job: U256,
    completion: Option<PathBuf>,
    signed: Option<((alloy::primitives::Bytes, B256), B256)>,
) -> Result<()> {
    match (completion, signed) {
        (Some(path), _) => complete_with_proof(client, job, &path).await,
        (None, Some(((sig, result), id))) => Ok(client.complete_job(job, result, id, sig.to_vec()).await?),
        (None, None) => Err(StackError::Config(
            "pass --completion FILE, or --signature HEX with --result and --receipt-id".into(),
        )),
    }
}

/// Complete `job` with a proof server's signed completion of its proof (the JSON file
/// at `path`): the proof is checked on chain, and a proof that does not verify gets the
/// sender slashed and is an error here.
pub async fn complete_with_proof(client: &ChainClient<DynProvider>, job: U256, path: &Path) -> Result<()> {
    let c: veil_protocol::SignedCompletion = veil_fs::read_json(path, 64 << 10, "a signed completion")?;
    if c.target.job_id != job {
        return Err(StackError::Config(format!(
            "{} completes job {}, not job {job}",
            path.display(),
            c.target.job_id
        )));
    }
    let signature = c.signature.to_vec();
    if !client.complete_job_with_proof(job, c.proof, c.result, c.target.receipt_id, signature).await? {
        return Err(StackError::Config(format!(
            "job {job}: the proof does not verify on chain; the prover was slashed"
        )));
    }
    Ok(())
}

/// `ADDRESS=ETH`, for funding accounts.
pub fn parse_fund(s: &str) -> Result<(Address, U256), String> {
    let (a, eth) = s.split_once('=').ok_or("expected ADDRESS=ETH")?;
    let a: Address = a.parse().map_err(|e| format!("{a}: {e}"))?;
    Ok((a, parse_eth(eth)?))
}

/// An amount of ETH in decimal, as wei.
pub fn parse_eth(eth: &str) -> Result<U256, String> {
    parse_ether(eth).map_err(|e| format!("{eth}: {e}"))
}

/// A prover registration statement file.
pub fn read_statement(path: &Path) -> std::io::Result<veil_ledger::SignedAttestation> {
    veil_fs::read_json(path, 64 << 10, "an attestation statement")
}

/// `veil chain …`.
#[derive(Debug, clap::Subcommand)]
pub enum ChainCommand {
    /// Create the embedded chain: genesis, a funded operator key, Veil's contracts.
    Init {
        /// EIP-155 chain id.
        #[arg(long, default_value_t = veil_chain::DEFAULT_CHAIN_ID)]
        chain_id: u64,
        /// Also fund ADDRESS=ETH at genesis (repeatable).
        #[arg(long, value_parser = parse_fund)]
        fund: Vec<(Address, U256)>,
    },
    /// Serve the embedded chain over HTTP JSON-RPC until interrupted.
    Start {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8545")]
        listen: std::net::SocketAddr,
    },
    /// Chain id, head block, base fee and contracts.
    Status,
    /// Deploy Veil's contracts with --key (treasury and insurance default to it).
    Deploy {
        /// Where to write the addresses.
        #[arg(long)]
        out: PathBuf,
    },
    /// Create a signer key file (0600) and print its address.
    Keygen {
        /// Where to write it; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Send ETH from --key to an address.
    Fund {
        /// The recipient.
        #[arg(long)]
        to: Address,
        /// Amount in ETH (decimal).
        #[arg(long, value_parser = parse_eth)]
        eth: U256,
    },
}

/// `veil job …`.
#[derive(Debug, clap::Subcommand)]
pub enum JobCommand {
    /// Submit a job with an escrowed fee; prints its id.
    Submit {
        /// Root of the data.
        #[arg(long)]
        data: B256,
        /// Weights hash of the model.
        #[arg(long)]
        model: B256,
        /// Fee in ETH (decimal).
        #[arg(long, value_parser = parse_eth)]
        fee_eth: U256,
    },
    /// Complete JOB as the signing prover: with a proof server's signed completion of
    /// its proof (`POST /v1/proofs/{id}/completion`), or with the 65-byte signature
    /// (hex) an enclave made over the completion of a job it ran.
    Complete {
        /// The job id.
        job: U256,
        /// The proof server's signed completion (JSON): the proof is checked on chain.
        #[arg(long, conflicts_with_all = ["signature", "result", "receipt_id"])]
        completion: Option<PathBuf>,
        /// The enclave's signature (hex) over the completion of `--result` and
        /// `--receipt-id`.
        #[arg(long, requires_all = ["result", "receipt_id"])]
        signature: Option<alloy::primitives::Bytes>,
        /// The result's hash.
        #[arg(long)]
        result: Option<B256>,
        /// The receipt's id.
        #[arg(long)]
        receipt_id: Option<B256>,
    },
    /// Give JOB to the prover its submission block selects (anyone may).
    Assign {
        /// The job id.
        job: U256,
    },
    /// After the assigned prover's window, report its downtime and open JOB to all.
    Reassign {
        /// The job id.
        job: U256,
    },
    /// Print a job as JSON.
    Show {
        /// The job id.
        job: U256,
    },
}

/// `veil prover …`.
#[derive(Debug, clap::Subcommand)]
pub enum ProverCommand {
    /// Register the signer as a prover with a stake and an attestation verifier's
    /// statement (`veil prover attest`) for its enclave key.
    Register {
        /// The statement (JSON).
        #[arg(long)]
        statement: std::path::PathBuf,
        /// Stake in ETH (decimal; at least 1).
        #[arg(long, value_parser = parse_eth)]
        stake_eth: U256,
    },
    /// Renew the signer's attestation with a fresh statement (or a restarted enclave's key).
    UpdateAttestation {
        /// The statement (JSON).
        #[arg(long)]
        statement: std::path::PathBuf,
    },
    /// Ask an attestation verifier (`veil oracle`) for the statement that admits a
    /// prover enclave's key, from its registration evidence.
    Attest {
        /// The enclave's registration evidence (JSON, from the proof server's
        /// `GET /v1/registration?account=`).
        #[arg(long)]
        evidence: std::path::PathBuf,
        /// The account registering.
        #[arg(long)]
        prover: Address,
        /// The attestation verifier's URL.
        #[arg(long)]
        oracle: String,
        /// Where to write the statement.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Approve (or with --revoke withdraw) a prover measurement (registry owner).
    Approve {
        /// The measurement id (hex), as evidence claims carry it.
        #[arg(value_parser = veil_oracle::measurement_key)]
        measurement: alloy::primitives::B256,
        /// Withdraw the approval instead.
        #[arg(long)]
        revoke: bool,
    },
    /// Pin the measurement attestation verifiers must run as (registry owner).
    PinVerifier {
        /// The measurement id (hex) verifiers must run as.
        #[arg(value_parser = veil_oracle::measurement_key)]
        measurement: alloy::primitives::B256,
    },
    /// Admit an attestation verifier's key (registry owner).
    AddVerifier {
        /// The attestation verifier's URL: it is challenged, and its evidence must bind
        /// its signing key and verify under --dev-root/--policy as a measurement you
        /// accept (the one the registry pins).
        #[arg(long)]
        oracle: String,
        /// Whose evidence to trust.
        #[command(flatten)]
        trust: crate::trust::TrustFiles,
        /// Also write the verifier's evidence here, to publish beside its admission.
        #[arg(long)]
        evidence_out: Option<std::path::PathBuf>,
    },
    /// Report an offence: invalid-proof (10%), downtime (1%), attestation-forgery or
    /// data-leak (100% and a ban).
    Report {
        /// The prover's account.
        prover: Address,
        /// The offence.
        #[arg(long)]
        offence: veil_ledger::Offence,
        /// The hash of the evidence.
        #[arg(long)]
        evidence: alloy::primitives::B256,
    },
    /// Print every registered prover as JSON.
    List,
}
