//! `veil chain`, `veil nft`, `veil job`, `veil prover`: the ledger from the command
//! line. Without `--rpc` they open the embedded chain in-process (its directory is
//! locked, so while `veil chain start` serves it, talk to that with `--rpc`).

use std::path::PathBuf;
use std::process::ExitCode;

use alloy::primitives::Address;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use veil_ledger::IntelligentData;
use veil_stack::keys::{new_wallet_key, read_wallet_key};
pub use veil_stack::ledger::{ChainCommand, JobCommand, ProverCommand};
use veil_stack::ledger::{Ledger, OPERATOR_KEY, open_embedded, write_deployment};
use veil_stack::marketplace::MarketCommand;
use veil_stack::publish::{Publish, publish};

pub use veil_stack::ledger::LedgerTarget as LedgerArgs;

/// The embedded chain's directory: --chain-dir, or in the user's data directory.
fn chain_dir(args: &LedgerArgs) -> Result<PathBuf> {
    match &args.chain_dir {
        Some(d) => Ok(d.clone()),
        None => crate::process::data_dir("chain", "--chain-dir DIR"),
    }
}

/// The target, with the embedded chain's directory when no --rpc is given.
fn resolved(args: &LedgerArgs) -> Result<LedgerArgs> {
    let chain_dir = if args.rpc.is_none() { Some(chain_dir(args)?) } else { None };
    Ok(LedgerArgs { chain_dir, ..args.clone() })
}

/// Connect as the configured signer (if any).
async fn connect(args: &LedgerArgs) -> Result<Ledger> {
    Ok(resolved(args)?.connect(crate::unix_now).await?)
}

/// `veil nft …`.
#[derive(Subcommand)]
pub enum NftCommand {
    /// Mint a token; prints its id. Publish its data afterwards (`publish`, or seal to
    /// `veil kms token-key` and `set-data`): data sealed before the token exists could
    /// be captured by whoever mints that id first.
    Mint {
        /// Data entries as ROOT or ROOT:DESCRIPTION (repeatable; usually none).
        #[arg(long = "data")]
        data: Vec<IntelligentData>,
        /// The owner (default: the signer).
        #[arg(long)]
        to: Option<Address>,
    },
    /// Replace TOKEN's data with sealed data roots (sent by the owner).
    SetData {
        /// The token id (decimal).
        token: veil_protocol::TokenId,
        /// Data entries as ROOT or ROOT:DESCRIPTION (repeatable).
        #[arg(long = "data", required = true)]
        data: Vec<IntelligentData>,
    },
    /// Publish the documents in DIR (.txt, .md, .jsonl), or a CSV table, as TOKEN's
    /// private data: sealed to the token's key, stored by root and attached (sent by
    /// the owner).
    #[command(group(clap::ArgGroup::new("what").required(true).args(["docs", "table"])))]
    Publish {
        /// The token id (decimal); its owner must be the signer.
        token: veil_protocol::TokenId,
        /// The directory whose files are the document set (for chats).
        #[arg(long)]
        docs: Option<PathBuf>,
        /// A CSV table: `id`, then numeric columns named in the header (for
        /// predictions and `veil train`).
        #[arg(long)]
        table: Option<PathBuf>,
        /// The key broker (it gives the token's public key).
        #[arg(long)]
        kms: String,
        /// Where to store the sealed set.
        #[command(flatten)]
        store: crate::store_args::StoreArgs,
    },
    /// Authorize USER to use TOKEN (sent by the owner).
    Authorize(TokenUser),
    /// Revoke USER's authorization on TOKEN.
    Revoke(TokenUser),
    /// Exit 0 if USER may use TOKEN, 1 if not; prints the answer and its block.
    IsAuthorized(TokenUser),
}

/// A token and one of its users.
#[derive(Args)]
pub struct TokenUser {
    /// The token id (decimal).
    token: veil_protocol::TokenId,
    /// The user's address.
    user: Address,
}

/// `veil chain …`.
pub fn chain(args: &LedgerArgs, command: ChainCommand) -> Result<()> {
    let rt = crate::runtime()?;
    rt.block_on(async {
        match command {
            ChainCommand::Init { chain_id, fund } => {
                if args.rpc.is_some() {
                    bail!("`veil chain init` creates the embedded chain; for --rpc use `veil chain deploy`");
                }
                let dir = chain_dir(args)?;
                let (d, operator) = veil_stack::ledger::init(&dir, chain_id, &fund, crate::unix_now).await?;
                outln!("chain {chain_id} in {}", dir.display());
                outln!("operator {operator} (key {})", dir.join(OPERATOR_KEY).display());
                outln!("{}", serde_json::to_string_pretty(&d)?);
            }
            ChainCommand::Start { listen } => {
                crate::init_tracing();
                if args.rpc.is_some() {
                    bail!("`veil chain start` serves the embedded chain; --rpc names another node");
                }
                let rpc = open_embedded(&chain_dir(args)?, crate::unix_now)?;
                crate::serve(listen, veil_chain::router(rpc), false).await?;
            }
            ChainCommand::Status => {
                let status = connect(args).await?.status().await?;
                outln!("{}", serde_json::to_string_pretty(&status)?);
            }
            ChainCommand::Deploy { out } => {
                let url = args.rpc.as_deref().context("`veil chain deploy` needs --rpc URL")?;
                let key = args.key.as_deref().context("`veil chain deploy` needs --key FILE")?;
                let client = veil_stack::ledger::deploy(url, read_wallet_key(key)?).await?;
                write_deployment(&out, &client.deployment())?;
                outln!("{}", serde_json::to_string_pretty(&client.deployment())?);
            }
            ChainCommand::Keygen { out } => outln!("{}", new_wallet_key(&out)?),
            ChainCommand::Fund { to, eth } => {
                let ledger = connect(args).await?;
                ledger.signer()?;
                outln!("{}", ledger.client.send_value(to, eth).await?);
            }
        }
        Ok(())
    })
}

/// `veil market …`: `serve` is `veil up --market`; the rest talk to the chain and to
/// providers. An audit that finds a dispute exits 1.
pub fn market(args: &LedgerArgs, command: MarketCommand) -> Result<ExitCode> {
    if let MarketCommand::Serve(flags) = command {
        return crate::up::run(veil_stack::stack::UpFlags { market: true, ..flags })
            .map(|()| ExitCode::SUCCESS);
    }
    let out = crate::runtime()?.block_on(veil_stack::marketplace::run(
        &resolved(args)?,
        command,
        crate::unix_now,
    ))?;
    outln!("{}", serde_json::to_string_pretty(&out.report)?);
    Ok(if out.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A command that signs or reads on the ledger.
pub enum LedgerCommand {
    Nft(NftCommand),
    Job(JobCommand),
    Prover(ProverCommand),
}

/// `veil nft|job|prover …` (returns the process exit code).
pub fn ledger(args: &LedgerArgs, command: LedgerCommand) -> Result<ExitCode> {
    use LedgerCommand::{Job, Nft, Prover};
    let rt = crate::runtime()?;
    rt.block_on(async {
        let ledger = connect(args).await?;
        let client = &ledger.client;
        match command {
            Nft(NftCommand::Mint { data, to }) => {
                let owner = to.map_or_else(|| ledger.signer(), Ok)?;
                outln!("{}", client.mint(owner, &data).await?);
            }
            Nft(NftCommand::SetData { token, data }) => {
                ledger.signer()?;
                client.set_data(token.value(), &data).await?;
                let n = data.len();
                outln!("token {token} now holds {n} data entr{}", if n == 1 { "y" } else { "ies" });
            }
            Nft(NftCommand::Publish { token, docs, table, kms, store }) => {
                let (me, store) = (ledger.signer()?, crate::store_args::open(&store)?);
                let what = match (docs, table) {
                    (Some(docs), _) => Publish::Documents(docs),
                    (None, table) => Publish::Table(table.unwrap_or_default()),
                };
                outln!("{}", publish(client, me, &kms, &store, token.value(), &what).await?);
            }
            Nft(NftCommand::Authorize(TokenUser { token, user })) => {
                ledger.signer()?;
                client.authorize(token.value(), user).await?;
                outln!("authorized {user} on token {token}");
            }
            Nft(NftCommand::Revoke(TokenUser { token, user })) => {
                ledger.signer()?;
                client.revoke(token.value(), user).await?;
                outln!("revoked {user} on token {token}");
            }
            Nft(NftCommand::IsAuthorized(TokenUser { token, user })) => {
                let (ok, block) = client.is_authorized(token.value(), user).await?;
                outln!("{} at block {block}", if ok { "authorized" } else { "not authorized" });
                if !ok {
                    return Ok(ExitCode::FAILURE);
                }
            }
            Job(JobCommand::Submit { data, model, fee_eth }) => {
                ledger.signer()?;
                outln!("{}", client.submit_job(data, model, fee_eth).await?);
            }
            Job(JobCommand::Complete { job, completion, signature, result, receipt_id }) => {
                ledger.signer()?;
                veil_stack::ledger::complete(client, job, completion, signature.zip(result).zip(receipt_id))
                    .await?;
                outln!("job {job} completed");
            }
            Job(JobCommand::Assign { job }) => outln!("{}", client.assign(job).await?),
            Job(JobCommand::Reassign { job }) => {
                client.reassign(job).await?;
                outln!("job {job} is open to every eligible prover");
            }
            Job(JobCommand::Show { job }) => {
                outln!("{}", serde_json::to_string_pretty(&client.job(job).await?)?);
            }
            Prover(ProverCommand::Register { statement, stake_eth }) => {
                let me = ledger.signer()?;
                client.register_prover(&veil_stack::ledger::read_statement(&statement)?, stake_eth).await?;
                outln!("registered prover {me}");
            }
            Prover(ProverCommand::UpdateAttestation { statement }) => {
                ledger.signer()?;
                let st = veil_stack::ledger::read_statement(&statement)?;
                client.update_attestation(&st).await?;
                outln!("attested until {}", st.expires_at);
            }
            Prover(ProverCommand::Attest { evidence, prover, oracle, out }) => {
                let evidence = veil_fs::read_json(&evidence, 1 << 20, "evidence")?;
                let st = veil_oracle::OracleClient::new(oracle).statement(prover, evidence).await?;
                veil_fs::write_json(&out, &st)?;
                outln!("{} may register enclave key {} until {}", st.prover, st.enclave_key, st.expires_at);
            }
            Prover(ProverCommand::Approve { measurement: id, revoke }) => {
                client.approve_measurement(id, !revoke).await?;
                outln!("{id} {}", if revoke { "revoked" } else { "approved" });
            }
            Prover(ProverCommand::PinVerifier { measurement: id }) => {
                client.pin_verifier_measurement(id).await?;
                outln!("attestation verifiers must run as {id}");
            }
            Prover(ProverCommand::AddVerifier { oracle, trust, evidence_out }) => {
                let (trust, now) = (trust.load()?, crate::unix_now());
                let a = veil_oracle::OracleClient::new(oracle).admission(&trust, now).await?;
                if let Some(path) = evidence_out {
                    veil_fs::write_json(&path, &a.evidence)?;
                }
                client.add_attestation_verifier(a.verifier, a.measurement, a.evidence_hash).await?;
                outln!("admitted attestation verifier {} (evidence {})", a.verifier, a.evidence_hash);
            }
            Prover(ProverCommand::Report { prover, offence, evidence }) => {
                client.report_failure(prover, offence, evidence).await?;
                outln!("reported {offence:?} by {prover}");
            }
            Prover(ProverCommand::List) => {
                outln!("{}", serde_json::to_string_pretty(&client.provers_list().await?)?);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
