//! `veil chain`, `veil nft`, `veil job`, `veil prover`: the ledger from the command
//! line. Without `--rpc` they open the embedded chain in-process (its directory is
//! locked, so while `veil chain start` serves it, talk to that with `--rpc`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::{Address, B256, U256, utils::parse_ether};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use veil_chain::{EmbeddedTransport, Genesis, Node, Rpc, SystemClock};
use veil_ledger::{ChainClient, Deployment, IntelligentData};
use zeroize::Zeroizing;

use crate::io;

/// Where the ledger is and who signs.
#[derive(Args, Clone)]
pub struct LedgerArgs {
    /// Any EVM JSON-RPC endpoint (default: the embedded chain in --chain-dir).
    #[arg(long, global = true)]
    rpc: Option<String>,
    /// The embedded chain's directory (default: the user's data directory).
    #[arg(long, global = true)]
    chain_dir: Option<PathBuf>,
    /// The signer's key file (hex secp256k1, mode 0600; default on the embedded
    /// chain: its operator key).
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    /// The contracts' addresses (JSON; default on the embedded chain: its own).
    #[arg(long, global = true)]
    deployment: Option<PathBuf>,
}

/// A connected ledger; holds the embedded node (and its lock) while in use.
pub struct Ledger {
    /// The client, signing as `signer`.
    pub client: ChainClient<DynProvider>,
    /// The signing account, if a key was given.
    pub signer: Option<Address>,
    /// The embedded chain, when not talking to `--rpc`.
    pub embedded: Option<Rpc>,
}

const OPERATOR_KEY: &str = "operator.key";
const DEPLOYMENT: &str = "deployment.json";

/// The embedded chain's default directory.
pub fn default_chain_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "veil")
        .context("cannot find a home directory for the chain; pass --chain-dir DIR")?;
    Ok(dirs.data_dir().join("chain"))
}

/// Write a new secp256k1 key (hex, 0600, never overwriting); returns its address.
pub fn keygen(out: &Path) -> Result<Address> {
    let signer = PrivateKeySigner::random();
    let hex = Zeroizing::new(format!("0x{}\n", hex::encode(signer.to_bytes())));
    let mut f = veil_fs::AtomicFile::create_new(out).with_context(|| format!("writing {}", out.display()))?;
    std::io::Write::write_all(&mut f, hex.as_bytes())?;
    f.commit().with_context(|| format!("writing {}", out.display()))?;
    Ok(signer.address())
}

/// Read a key file written by [`keygen`] (or any 0x-hex private key, mode 0600).
pub fn read_key(path: &Path) -> Result<PrivateKeySigner> {
    io::check_private(path)?;
    let bytes = Zeroizing::new(io::read_limited(path, 1024)?);
    let text =
        std::str::from_utf8(&bytes).map_err(|_| anyhow!("{} is not a hex key file", path.display()))?;
    text.trim().parse::<PrivateKeySigner>().map_err(|_| {
        anyhow!(
            "{} does not hold a secp256k1 private key (64 hex digits)",
            path.display()
        )
    })
}

/// Read a deployment file (contract addresses, as `veil chain init|deploy` write it).
pub fn read_deployment(path: &Path) -> Result<Deployment> {
    let bytes = io::read_limited(path, 64 * 1024)?;
    serde_json::from_slice(&bytes).with_context(|| format!("reading deployment {}", path.display()))
}

fn write_deployment(path: &Path, d: &Deployment) -> Result<()> {
    veil_fs::write_atomic(path, serde_json::to_string_pretty(d)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn now() -> u64 {
    veil_chain::Clock::now(&SystemClock)
}

/// Create the embedded chain in `dir`: an operator key funded at genesis (plus
/// `fund`), Veil's contracts deployed by it, and their addresses in deployment.json.
pub async fn init(dir: &Path, chain_id: u64, fund: &[(Address, U256)]) -> Result<(Deployment, Address)> {
    if dir.join("genesis.json").exists() {
        bail!("{} already holds a chain", dir.display());
    }
    veil_fs::create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key_path = dir.join(OPERATOR_KEY);
    let operator = keygen(&key_path)?;
    let mut alloc: BTreeMap<Address, U256> = fund.iter().copied().collect();
    alloc.insert(operator, parse_ether("1000000")?);
    let genesis = Genesis::new(chain_id, now(), alloc);
    let (node, _) = Node::open(dir, &genesis)?;
    let rpc = Rpc::new(node, Arc::new(SystemClock));
    let provider = embedded_provider(&rpc, read_key(&key_path)?);
    let client = ChainClient::deploy(provider, operator, operator, operator).await?;
    client.set_job_registry().await?;
    let d = client.deployment();
    write_deployment(&dir.join(DEPLOYMENT), &d)?;
    Ok((d, operator))
}

fn embedded_provider(rpc: &Rpc, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .wallet(signer)
        .connect_client(EmbeddedTransport::new(rpc.clone()).client())
        .erased()
}

/// Open the embedded chain in `dir` (which must have been initialised).
pub fn open_embedded(dir: &Path) -> Result<Rpc> {
    let genesis_path = dir.join("genesis.json");
    if !genesis_path.exists() {
        bail!(
            "no chain in {}: run `veil chain init` first (or pass --rpc URL)",
            dir.display()
        );
    }
    let genesis = Genesis::load(&genesis_path)?;
    let (node, report) = Node::open(dir, &genesis)?;
    if report.truncated > 0 {
        tracing::warn!(
            bytes = report.truncated,
            "cut a torn final append off the chain log (the process had stopped mid-write)"
        );
    }
    Ok(Rpc::new(node, Arc::new(SystemClock)))
}

impl LedgerArgs {
    /// The embedded chain in `dir`, signing with its operator key.
    pub fn embedded(dir: PathBuf) -> Self {
        Self {
            rpc: None,
            chain_dir: Some(dir),
            key: None,
            deployment: None,
        }
    }

    fn chain_dir(&self) -> Result<PathBuf> {
        match &self.chain_dir {
            Some(d) => Ok(d.clone()),
            None => default_chain_dir(),
        }
    }

    /// Connect as the configured signer (if any).
    pub async fn connect(&self) -> Result<Ledger> {
        let (embedded, key, deployment) = match &self.rpc {
            Some(_) => (None, self.key.clone(), self.deployment.clone()),
            None => {
                let dir = self.chain_dir()?;
                let rpc = open_embedded(&dir)?;
                (
                    Some(rpc),
                    Some(self.key.clone().unwrap_or(dir.join(OPERATOR_KEY))),
                    Some(self.deployment.clone().unwrap_or(dir.join(DEPLOYMENT))),
                )
            }
        };
        let deployment = read_deployment(
            &deployment.context("--deployment FILE is needed with --rpc (see `veil chain deploy`)")?,
        )?;
        let signer = key.as_deref().map(read_key).transpose()?;
        let address = signer.as_ref().map(PrivateKeySigner::address);
        let provider = self.provider(embedded.as_ref(), signer)?;
        let client = ChainClient::connect(provider, deployment).await?;
        Ok(Ledger {
            client,
            signer: address,
            embedded,
        })
    }

    fn provider(&self, embedded: Option<&Rpc>, signer: Option<PrivateKeySigner>) -> Result<DynProvider> {
        Ok(match (embedded, &self.rpc, signer) {
            (Some(rpc), _, Some(s)) => embedded_provider(rpc, s),
            (Some(rpc), _, None) => ProviderBuilder::new()
                .connect_client(EmbeddedTransport::new(rpc.clone()).client())
                .erased(),
            (None, Some(url), signer) => {
                let url = url.parse().with_context(|| format!("--rpc {url} is not a URL"))?;
                match signer {
                    Some(s) => ProviderBuilder::new().wallet(s).connect_http(url).erased(),
                    None => ProviderBuilder::new().connect_http(url).erased(),
                }
            }
            (None, None, _) => unreachable!("no --rpc means embedded"),
        })
    }
}

impl Ledger {
    fn signer(&self) -> Result<Address> {
        self.signer.context("this sends a transaction: pass --key FILE")
    }
}

/// `veil chain …`.
#[derive(Subcommand)]
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
        #[arg(long)]
        eth: String,
    },
}

fn parse_fund(s: &str) -> Result<(Address, U256), String> {
    let (a, eth) = s.split_once('=').ok_or("expected ADDRESS=ETH")?;
    let a: Address = a.parse().map_err(|e| format!("{a}: {e}"))?;
    let wei = parse_ether(eth).map_err(|e| format!("{eth}: {e}"))?;
    Ok((a, wei))
}

/// `veil nft …`.
#[derive(Subcommand)]
pub enum NftCommand {
    /// Mint a token over sealed data roots; prints its id.
    Mint {
        /// Data entries as ROOT or ROOT:DESCRIPTION (repeatable).
        #[arg(long = "data", required = true)]
        data: Vec<String>,
        /// The owner (default: the signer).
        #[arg(long)]
        to: Option<Address>,
    },
    /// Authorize USER to use TOKEN (sent by the owner).
    Authorize {
        /// The token id.
        token: U256,
        /// The user's address.
        user: Address,
    },
    /// Revoke USER's authorization on TOKEN.
    Revoke {
        /// The token id.
        token: U256,
        /// The user's address.
        user: Address,
    },
    /// Exit 0 if USER may use TOKEN, 1 if not; prints the answer and its block.
    IsAuthorized {
        /// The token id.
        token: U256,
        /// The user's address.
        user: Address,
    },
}

/// `veil job …`.
#[derive(Subcommand)]
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
        #[arg(long)]
        fee_eth: String,
    },
    /// Complete JOB as the signing prover, with its enclave's signature.
    Complete {
        /// The job id.
        job: U256,
        /// The result's hash.
        #[arg(long)]
        result: B256,
        /// The receipt's id.
        #[arg(long)]
        receipt_id: B256,
        /// The enclave's key file, to sign the completion (a development stand-in
        /// for the enclave signing inside).
        #[arg(long, conflicts_with = "signature")]
        enclave_key: Option<PathBuf>,
        /// The enclave's 65-byte signature (hex), made inside the enclave.
        #[arg(long)]
        signature: Option<String>,
    },
    /// Print a job as JSON.
    Show {
        /// The job id.
        job: U256,
    },
}

/// `veil prover …`.
#[derive(Subcommand)]
pub enum ProverCommand {
    /// Register the signer as a prover with a stake.
    Register {
        /// The enclave's signing address.
        #[arg(long)]
        enclave_key: Address,
        /// The enclave's measurement (32 bytes hex).
        #[arg(long)]
        measurement: B256,
        /// Stake in ETH (decimal; at least 1).
        #[arg(long)]
        stake_eth: String,
    },
    /// Print every registered prover as JSON.
    List,
}

/// `veil chain …` (returns the process exit code).
pub fn chain(args: &LedgerArgs, command: ChainCommand) -> Result<std::process::ExitCode> {
    let rt = crate::runtime()?;
    rt.block_on(async {
        match command {
            ChainCommand::Init { chain_id, fund } => {
                if args.rpc.is_some() {
                    bail!("`veil chain init` creates the embedded chain; for --rpc use `veil chain deploy`");
                }
                let dir = args.chain_dir()?;
                let (d, operator) = init(&dir, chain_id, &fund).await?;
                outln!("chain {chain_id} in {}", dir.display());
                outln!("operator {operator} (key {})", dir.join(OPERATOR_KEY).display());
                outln!("{}", serde_json::to_string_pretty(&d)?);
            }
            ChainCommand::Start { listen } => {
                if args.rpc.is_some() {
                    bail!("`veil chain start` serves the embedded chain; --rpc names another node");
                }
                let dir = args.chain_dir()?;
                let rpc = open_embedded(&dir)?;
                let (chain_id, head) = {
                    let n = rpc.node();
                    (n.chain_id(), n.head())
                };
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                let addr = listener.local_addr()?;
                outln!("listening on http://{addr}");
                tracing::info!(%addr, chain_id, head, dir = %dir.display(), "embedded chain started");
                axum::serve(listener, veil_chain::router(rpc))
                    .with_graceful_shutdown(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await
                    .context("serving")?;
            }
            ChainCommand::Status => {
                let ledger = args.connect().await?;
                let p = ledger.client.provider();
                let head = p.get_block_number().await?;
                let base_fee = p
                    .get_block_by_number(head.into())
                    .await?
                    .and_then(|b| b.header.base_fee_per_gas);
                let mut status = serde_json::json!({
                    "chain_id": ledger.client.chain_id(),
                    "head": head,
                    "base_fee": base_fee,
                    "contracts": ledger.client.deployment(),
                });
                if let Some(rpc) = &ledger.embedded {
                    let n = rpc.node();
                    status["embedded"] = serde_json::json!({
                        "dir": n.dir().map(|d| d.display().to_string()),
                        "log_bytes": n.log_bytes(),
                    });
                }
                outln!("{}", serde_json::to_string_pretty(&status)?);
            }
            ChainCommand::Deploy { out } => {
                let url = args
                    .rpc
                    .as_deref()
                    .context("`veil chain deploy` needs --rpc URL")?;
                let key = args
                    .key
                    .as_deref()
                    .context("`veil chain deploy` needs --key FILE")?;
                let signer = read_key(key)?;
                let me = signer.address();
                let provider = ProviderBuilder::new()
                    .wallet(signer)
                    .connect_http(url.parse().with_context(|| format!("--rpc {url} is not a URL"))?)
                    .erased();
                let client = ChainClient::deploy(provider, me, me, me).await?;
                client.set_job_registry().await?;
                write_deployment(&out, &client.deployment())?;
                outln!("{}", serde_json::to_string_pretty(&client.deployment())?);
            }
            ChainCommand::Keygen { out } => {
                outln!("{}", keygen(&out)?);
            }
            ChainCommand::Fund { to, eth } => {
                let ledger = args.connect().await?;
                ledger.signer()?;
                let wei = parse_ether(&eth).with_context(|| format!("--eth {eth}"))?;
                let tx = ledger.client.send_value(to, wei).await?;
                outln!("{tx}");
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}

fn parse_entry(s: &str) -> Result<IntelligentData> {
    let (root, description) = s.split_once(':').unwrap_or((s, ""));
    Ok(IntelligentData {
        description: description.to_owned(),
        data_hash: root
            .parse()
            .with_context(|| format!("--data {s}: the root must be 0x and 64 hex digits"))?,
    })
}

/// `veil nft …`.
pub fn nft(args: &LedgerArgs, command: NftCommand) -> Result<std::process::ExitCode> {
    let rt = crate::runtime()?;
    rt.block_on(async {
        let ledger = args.connect().await?;
        match command {
            NftCommand::Mint { data, to } => {
                let entries = data.iter().map(|d| parse_entry(d)).collect::<Result<Vec<_>>>()?;
                let owner = match to {
                    Some(a) => a,
                    None => ledger.signer()?,
                };
                outln!("{}", ledger.client.mint(owner, &entries).await?);
            }
            NftCommand::Authorize { token, user } => {
                ledger.signer()?;
                ledger.client.authorize(token, user).await?;
                outln!("authorized {user} on token {token}");
            }
            NftCommand::Revoke { token, user } => {
                ledger.signer()?;
                ledger.client.revoke(token, user).await?;
                outln!("revoked {user} on token {token}");
            }
            NftCommand::IsAuthorized { token, user } => {
                let (ok, block) = ledger.client.is_authorized(token, user).await?;
                outln!(
                    "{} at block {block}",
                    if ok { "authorized" } else { "not authorized" }
                );
                if !ok {
                    return Ok(std::process::ExitCode::FAILURE);
                }
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}

/// `veil job …`.
pub fn job(args: &LedgerArgs, command: JobCommand) -> Result<std::process::ExitCode> {
    let rt = crate::runtime()?;
    rt.block_on(async {
        let ledger = args.connect().await?;
        match command {
            JobCommand::Submit { data, model, fee_eth } => {
                ledger.signer()?;
                let fee = parse_ether(&fee_eth).with_context(|| format!("--fee-eth {fee_eth}"))?;
                outln!("{}", ledger.client.submit_job(data, model, fee).await?);
            }
            JobCommand::Complete {
                job,
                result,
                receipt_id,
                enclave_key,
                signature,
            } => {
                ledger.signer()?;
                let signature = match (enclave_key, signature) {
                    (Some(path), None) => {
                        use alloy::signers::SignerSync;
                        let enclave = read_key(&path)?;
                        let digest = ledger.client.completion_digest(job, result, receipt_id).await?;
                        enclave.sign_hash_sync(&digest)?.as_bytes().to_vec()
                    }
                    (None, Some(hex_sig)) => {
                        hex::decode(hex_sig.trim_start_matches("0x")).context("--signature must be hex")?
                    }
                    _ => bail!("pass --enclave-key FILE or --signature HEX"),
                };
                ledger
                    .client
                    .complete_job(job, result, receipt_id, signature)
                    .await?;
                outln!("job {job} completed");
            }
            JobCommand::Show { job } => {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&ledger.client.job(job).await?)?
                );
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}

/// `veil prover …`.
pub fn prover(args: &LedgerArgs, command: ProverCommand) -> Result<std::process::ExitCode> {
    let rt = crate::runtime()?;
    rt.block_on(async {
        let ledger = args.connect().await?;
        match command {
            ProverCommand::Register {
                enclave_key,
                measurement,
                stake_eth,
            } => {
                let me = ledger.signer()?;
                let stake = parse_ether(&stake_eth).with_context(|| format!("--stake-eth {stake_eth}"))?;
                ledger
                    .client
                    .register_prover(enclave_key, measurement, stake)
                    .await?;
                outln!("registered prover {me}");
            }
            ProverCommand::List => {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&ledger.client.provers_list().await?)?
                );
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}
