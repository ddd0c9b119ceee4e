//! One client for Veil's contracts over any alloy provider (embedded chain, anvil,
//! a public RPC).

use alloy::network::{Ethereum, TransactionBuilder};
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{Eip712Domain, SolStruct};

use crate::LedgerError;
use crate::bindings::{FederationRegistry, INFT, JobRegistry, ProverRegistry, ReceiptAnchor};
use veil_protocol::SignedAttestation;

/// Where Veil's contracts live on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
    /// The INFT contract.
    pub inft: Address,
    /// The prover registry.
    pub provers: Address,
    /// The job registry.
    pub jobs: Address,
    /// The receipt anchor.
    pub anchor: Address,
    /// The federated-learning registry (absent from deployments made before it: zero).
    #[serde(default)]
    pub federations: Address,
    /// The serving marketplace's ledger of prepaid balances (zero before it existed).
    #[serde(default)]
    pub market_ledger: Address,
    /// The serving marketplace's inference services and sub-accounts (zero before it existed).
    #[serde(default)]
    pub serving: Address,
}

/// A federation as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FederationInfo {
    /// Who created it.
    pub owner: Address,
    /// The enclave key that may record its rounds.
    pub aggregator: Address,
    /// The owner's Ed25519 key.
    pub owner_key: B256,
    /// The last recorded round (0: none).
    pub round: u64,
    /// The model that round made.
    pub model: B256,
    /// The participants' Ed25519 keys, client 1 first.
    pub participants: Vec<B256>,
}

/// One recorded round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordedRound {
    /// The round.
    pub round: u64,
    /// Root of the owner's signed start.
    pub start_root: B256,
    /// The model it started from.
    pub previous_model: B256,
    /// The model it made.
    pub global_model: B256,
    /// Its receipt's id (the SHA-256 of the receipt body).
    pub receipt_id: B256,
    /// Whose updates are in it.
    pub survivors: Vec<u32>,
    /// The root of each survivor's masked update.
    pub update_roots: Vec<B256>,
}

/// One of a token's data entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelligentData {
    /// What the data is.
    pub description: String,
    /// Its 0G root.
    pub data_hash: B256,
}

/// A data entry that is not `ROOT` or `ROOT:DESCRIPTION`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: a data entry is ROOT or ROOT:DESCRIPTION, the root 0x and 64 hex digits")]
pub struct MalformedEntry(String);

/// `ROOT` or `ROOT:DESCRIPTION`, as the command line names a data entry.
impl std::str::FromStr for IntelligentData {
    type Err = MalformedEntry;

    fn from_str(s: &str) -> Result<Self, MalformedEntry> {
        let (root, description) = s.split_once(':').unwrap_or((s, ""));
        let data_hash = root.parse().map_err(|_| MalformedEntry(s.to_owned()))?;
        Ok(IntelligentData { description: description.to_owned(), data_hash })
    }
}

/// A registered prover as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProverInfo {
    /// The prover's account.
    pub address: Address,
    /// Its stake (wei, decimal in JSON).
    #[serde(serialize_with = "decimal")]
    pub stake: U256,
    /// The key its enclave signs completions with.
    pub enclave_key: Address,
    /// Its enclave's measurement.
    pub measurement: B256,
    /// Reputation in basis points.
    pub reputation_bps: u16,
    /// Whether it is staked and has not asked to leave.
    pub active: bool,
    /// Whether an offence banned it for good.
    pub banned: bool,
    /// Its attestation statement's expiry (unix seconds).
    pub attested_until: u64,
    /// Jobs completed (its verification period ends at the registry's
    /// `VERIFICATION_PROOFS`).
    pub successes: u32,
    /// Offences reported.
    pub failures: u32,
}

/// A job as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobInfo {
    /// The job's id.
    #[serde(serialize_with = "decimal")]
    pub id: U256,
    /// Who submitted and paid for it.
    pub requester: Address,
    /// Root of the data it runs on.
    pub data_hash: B256,
    /// Weights hash of the model.
    pub model_hash: B256,
    /// Escrowed fee (wei, decimal in JSON).
    #[serde(serialize_with = "decimal")]
    pub fee: U256,
    /// After this (unix seconds) an open job may be refunded.
    pub deadline: u64,
    /// `open`, `completed` or `cancelled`.
    pub status: &'static str,
    /// The prover that completed it.
    pub prover: Address,
    /// The result's hash.
    pub result_hash: B256,
    /// The receipt that proves it.
    pub receipt_id: B256,
    /// The prover selection gave it to (zero before selection, or once open to all).
    pub assigned: Address,
    /// Until when (unix seconds) only the assigned prover may complete it.
    pub assigned_until: u64,
}

/// An offence the prover registry slashes, by grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence {
    /// A signed proof that does not verify: 10% of the stake.
    InvalidProof,
    /// A missed assignment: 1%.
    Downtime,
    /// Forged attestation: 100% and a ban.
    AttestationForgery,
    /// Leaked data: 100% and a ban.
    DataLeak,
}

impl std::str::FromStr for Offence {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "invalid-proof" => Self::InvalidProof,
            "downtime" => Self::Downtime,
            "attestation-forgery" => Self::AttestationForgery,
            "data-leak" => Self::DataLeak,
            _ => {
                return Err(format!(
                    "{s:?}: expected invalid-proof, downtime, attestation-forgery or data-leak"
                ));
            }
        })
    }
}

fn decimal<S: serde::Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

alloy::sol! {
    /// What a TEE oracle signs to move a token (EIP-712, INFT's `TransferProof`).
    #[derive(Debug)]
    struct TransferProof {
        uint256 tokenId;
        address from;
        address to;
        bytes32 oldDataRoot;
        bytes32 newDataRoot;
        bytes32 sealedKeyHash;
        uint256 deadline;
        bytes32 nonce;
    }
}

/// The INFT data root over entries, as the contract computes it.
pub fn data_root(data: &[IntelligentData]) -> B256 {
    let packed: Vec<u8> = data.iter().flat_map(|d| d.data_hash.0).collect();
    keccak256(packed)
}

fn entries(data: &[IntelligentData]) -> Vec<INFT::IntelligentData> {
    data.iter()
        .map(|d| INFT::IntelligentData { dataDescription: d.description.clone(), dataHash: d.data_hash })
        .collect()
}

fn transport(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Transport(e.to_string())
}

/// Veil's domain operations on one chain.
#[derive(Debug, Clone)]
pub struct ChainClient<P> {
    provider: P,
    deployment: Deployment,
    chain_id: u64,
}

/// How long a sent transaction may take to be mined before we stop waiting.
const MINING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A contract's EIP-712 domain as it reports it (ERC-5267), never assumed.
macro_rules! domain_of {
    ($contract:literal, $instance:expr) => {{
        let d =
            $instance.eip712Domain().call().await.map_err(|e| LedgerError::from_contract($contract, e))?;
        Ok(Eip712Domain::new(
            Some(d.name.into()),
            Some(d.version.into()),
            Some(d.chainId),
            Some(d.verifyingContract),
            None,
        ))
    }};
}

/// Simulate first in the pending block (a refusal is decoded and nothing is sent, so
/// no nonce is spent on a transaction that would revert), then send and wait for the
/// receipt.
macro_rules! transact {
    ($contract:literal, $instance:expr, $($call:tt)+) => {{
        let instance = $instance;
        let call = instance.$($call)+;
        // Simulated in the pending block: the one the transaction will land in.
        call.call()
            .block(alloy::eips::BlockId::pending())
            .await
            .map_err(|e| LedgerError::from_contract($contract, e))?;
        mined($contract, call.send().await).await?
    }};
}

async fn mined(
    contract: &'static str,
    pending: Result<alloy::providers::PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
) -> Result<TransactionReceipt, LedgerError> {
    let pending = pending.map_err(|e| LedgerError::from_contract(contract, e))?;
    let receipt = pending
        .with_timeout(Some(MINING_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| LedgerError::Transport(e.to_string()))?;
    if !receipt.status() {
        return Err(LedgerError::Failed(receipt.transaction_hash.to_string()));
    }
    Ok(receipt)
}

// A child module, so it shares the `transact!` and `domain_of!` macros.
#[path = "market.rs"]
pub(crate) mod market;

impl<P: Provider + Clone> ChainClient<P> {
    /// Deploy all four contracts with `admin` owning them; the provider's default
    /// sender pays. Wires the job registry into the prover registry.
    pub async fn deploy(
        provider: P,
        admin: Address,
        treasury: Address,
        insurance: Address,
    ) -> Result<Self, LedgerError> {
        let inft =
            INFT::deploy(provider.clone(), admin).await.map_err(|e| LedgerError::from_contract("INFT", e))?;
        let provers = ProverRegistry::deploy(provider.clone(), admin, treasury, insurance)
            .await
            .map_err(|e| LedgerError::from_contract("ProverRegistry", e))?;
        let jobs = JobRegistry::deploy(provider.clone(), *provers.address())
            .await
            .map_err(|e| LedgerError::from_contract("JobRegistry", e))?;
        let anchor = ReceiptAnchor::deploy(provider.clone(), admin)
            .await
            .map_err(|e| LedgerError::from_contract("ReceiptAnchor", e))?;
        // Last, so the other contracts keep the addresses they had before it existed.
        let federations = FederationRegistry::deploy(provider.clone())
            .await
            .map_err(|e| LedgerError::from_contract("FederationRegistry", e))?;
        let (market_ledger, serving) = market::deploy(&provider, admin).await?;
        let deployment = Deployment {
            inft: *inft.address(),
            provers: *provers.address(),
            jobs: *jobs.address(),
            anchor: *anchor.address(),
            federations: *federations.address(),
            market_ledger,
            serving,
        };
        let client = Self::connect(provider, deployment).await?;
        Ok(client)
    }

    /// A client of an existing deployment; the chain id is read from the node.
    pub async fn connect(provider: P, deployment: Deployment) -> Result<Self, LedgerError> {
        let chain_id = provider.get_chain_id().await.map_err(|e| LedgerError::Transport(e.to_string()))?;
        Ok(Self { provider, deployment, chain_id })
    }

    /// The chain id the node reported.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The provider underneath.
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// The contracts' addresses.
    pub fn deployment(&self) -> Deployment {
        self.deployment
    }

    fn inft(&self) -> INFT::INFTInstance<P> {
        INFT::new(self.deployment.inft, self.provider.clone())
    }

    fn provers(&self) -> ProverRegistry::ProverRegistryInstance<P> {
        ProverRegistry::new(self.deployment.provers, self.provider.clone())
    }

    fn jobs(&self) -> JobRegistry::JobRegistryInstance<P> {
        JobRegistry::new(self.deployment.jobs, self.provider.clone())
    }

    /// Wire the job registry into the prover registry (admin only).
    pub async fn set_job_registry(&self) -> Result<(), LedgerError> {
        transact!("ProverRegistry", self.provers(), setJobRegistry(self.deployment.jobs));
        Ok(())
    }

    /// Register `oracle` as a TEE oracle for transfers (admin only).
    pub async fn set_oracle(&self, oracle: Address, enabled: bool) -> Result<(), LedgerError> {
        transact!("INFT", self.inft(), setOracle(oracle, enabled));
        Ok(())
    }

    /// Mint a token over `data` (usually none: see [`ChainClient::set_data`]) to `to`;
    /// returns its id.
    pub async fn mint(&self, to: Address, data: &[IntelligentData]) -> Result<U256, LedgerError> {
        let receipt = transact!("INFT", self.inft(), mint(to, entries(data)));
        receipt.decoded_log::<INFT::Minted>().map(|l| l.tokenId).ok_or(LedgerError::MissingEvent("Minted"))
    }

    /// Replace `token`'s data with `data` (sent by the token's owner).
    pub async fn set_data(&self, token: U256, data: &[IntelligentData]) -> Result<(), LedgerError> {
        transact!("INFT", self.inft(), setData(token, entries(data)));
        Ok(())
    }

    /// Authorize `user` on `token` (sent by the token's owner).
    pub async fn authorize(&self, token: U256, user: Address) -> Result<(), LedgerError> {
        transact!("INFT", self.inft(), authorizeUsage(token, user));
        Ok(())
    }

    /// Revoke `user`'s authorization on `token`.
    pub async fn revoke(&self, token: U256, user: Address) -> Result<(), LedgerError> {
        transact!("INFT", self.inft(), revokeAuthorization(token, user));
        Ok(())
    }

    /// `isAuthorized(token, user)` at the latest block; returns the answer and the
    /// block it was read at (what the key broker records).
    pub async fn is_authorized(&self, token: U256, user: Address) -> Result<(bool, u64), LedgerError> {
        let block =
            self.provider.get_block_number().await.map_err(|e| LedgerError::Transport(e.to_string()))?;
        let ok = self
            .inft()
            .isAuthorized(token, user)
            .block(block.into())
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("INFT", e))?;
        Ok((ok, block))
    }

    /// Register the sender as a prover with `stake` wei and an attestation verifier's
    /// statement for it.
    pub async fn register_prover(&self, st: &SignedAttestation, stake: U256) -> Result<(), LedgerError> {
        transact!(
            "ProverRegistry",
            self.provers(),
            register(st.enclave_key, st.measurement, st.evidence_hash, st.expires_at, st.signature.clone())
                .value(stake)
        );
        Ok(())
    }

    /// Renew the sender's attestation (or move it to a restarted enclave's new key).
    pub async fn update_attestation(&self, st: &SignedAttestation) -> Result<(), LedgerError> {
        transact!(
            "ProverRegistry",
            self.provers(),
            updateAttestation(
                st.enclave_key,
                st.measurement,
                st.evidence_hash,
                st.expires_at,
                st.signature.clone()
            )
        );
        Ok(())
    }

    /// The EIP-712 domain attestation statements are signed under, read from the chain.
    pub async fn registry_domain(&self) -> Result<Eip712Domain, LedgerError> {
        domain_of!("ProverRegistry", self.provers())
    }

    /// The digest the registry computes for `st` (what a verifier must have signed).
    pub async fn attestation_digest(&self, st: &SignedAttestation) -> Result<B256, LedgerError> {
        self.provers()
            .attestationDigest(st.prover, st.enclave_key, st.measurement, st.evidence_hash, st.expires_at)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("ProverRegistry", e))
    }

    /// Allow (or stop allowing) provers to run with `measurement` (owner only).
    pub async fn approve_measurement(&self, measurement: B256, approved: bool) -> Result<(), LedgerError> {
        transact!("ProverRegistry", self.provers(), approveMeasurement(measurement, approved));
        Ok(())
    }

    /// Pin the measurement attestation verifiers must run as (owner only).
    pub async fn pin_verifier_measurement(&self, measurement: B256) -> Result<(), LedgerError> {
        transact!("ProverRegistry", self.provers(), pinVerifierMeasurement(measurement));
        Ok(())
    }

    /// Admit an attestation verifier's key, running as the pinned measurement, citing
    /// the hash of its evidence (owner only).
    pub async fn add_attestation_verifier(
        &self,
        verifier: Address,
        measurement: B256,
        evidence: B256,
    ) -> Result<(), LedgerError> {
        transact!("ProverRegistry", self.provers(), addAttestationVerifier(verifier, measurement, evidence));
        Ok(())
    }

    /// Report `offence` by `prover`, citing `evidence` (the owner any offence, an
    /// attestation verifier forgery).
    pub async fn report_failure(
        &self,
        prover: Address,
        offence: Offence,
        evidence: B256,
    ) -> Result<(), LedgerError> {
        transact!("ProverRegistry", self.provers(), reportFailure(prover, offence as u8, evidence));
        Ok(())
    }

    /// Submit a job with `fee` wei escrowed; returns its id.
    pub async fn submit_job(
        &self,
        data_hash: B256,
        model_hash: B256,
        fee: U256,
    ) -> Result<U256, LedgerError> {
        let receipt = transact!("JobRegistry", self.jobs(), submitJob(data_hash, model_hash).value(fee));
        receipt
            .decoded_log::<JobRegistry::JobSubmitted>()
            .map(|l| l.jobId)
            .ok_or(LedgerError::MissingEvent("JobSubmitted"))
    }

    /// The EIP-712 digest `prover`'s enclave signs to complete a job (domain read
    /// from the chain); `proof_hash` is zero except for a zk job.
    pub async fn completion_digest(
        &self,
        job: U256,
        prover: Address,
        result: B256,
        receipt_id: B256,
        proof_hash: B256,
    ) -> Result<B256, LedgerError> {
        self.jobs()
            .completionDigest(job, prover, result, receipt_id, proof_hash)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("JobRegistry", e))
    }

    /// Give `job` to the prover its seed selects (anyone may, once the submission's
    /// block is sealed); returns it (zero past the selection window: open to all).
    pub async fn assign(&self, job: U256) -> Result<Address, LedgerError> {
        let receipt = transact!("JobRegistry", self.jobs(), assign(job));
        Ok(receipt.decoded_log::<JobRegistry::JobAssigned>().map(|l| l.prover).unwrap_or(Address::ZERO))
    }

    /// After the assigned prover's window, report its downtime and open `job` to all.
    pub async fn reassign(&self, job: U256) -> Result<(), LedgerError> {
        transact!("JobRegistry", self.jobs(), reassign(job));
        Ok(())
    }

    /// Complete `job` as the sender (a prover) with its enclave's 65-byte signature.
    pub async fn complete_job(
        &self,
        job: U256,
        result: B256,
        receipt_id: B256,
        signature: Vec<u8>,
    ) -> Result<(), LedgerError> {
        transact!("JobRegistry", self.jobs(), completeJob(job, result, receipt_id, signature.into()));
        Ok(())
    }

    /// Complete `job` for `prover`, relaying its enclave's 65-byte signature: anyone may
    /// send it, the fee goes to `prover`.
    pub async fn complete_job_for(
        &self,
        job: U256,
        prover: Address,
        result: B256,
        receipt_id: B256,
        signature: Vec<u8>,
    ) -> Result<(), LedgerError> {
        transact!(
            "JobRegistry",
            self.jobs(),
            completeJobFor(job, prover, result, receipt_id, signature.into())
        );
        Ok(())
    }

    /// Escrow `fee` for a zk job: a proof under `verifier` (a deployed Groth16
    /// verifier) that the model committed to by `model` maps the input committed to by
    /// `input` to a result.
    pub async fn submit_zk_job(
        &self,
        input: B256,
        model: B256,
        verifier: Address,
        fee: U256,
    ) -> Result<U256, LedgerError> {
        let receipt = transact!("JobRegistry", self.jobs(), submitZkJob(input, model, verifier).value(fee));
        receipt
            .decoded_log::<JobRegistry::JobSubmitted>()
            .map(|l| l.jobId)
            .ok_or(LedgerError::MissingEvent("JobSubmitted"))
    }

    /// Complete a zk job as the sender (an eligible prover) with the proof's eight
    /// words, the result it commits to and the sender's enclave signature over both;
    /// the job's verifier checks the proof on chain. `Ok(false)`: the proof did not
    /// verify, the sender was slashed for it and the job stays open.
    pub async fn complete_job_with_proof(
        &self,
        job: U256,
        proof: [U256; 8],
        result: U256,
        receipt_id: B256,
        signature: Vec<u8>,
    ) -> Result<bool, LedgerError> {
        let receipt = transact!(
            "JobRegistry",
            self.jobs(),
            completeJobWithProof(job, proof, result, receipt_id, signature.into())
        );
        Ok(receipt.decoded_log::<JobRegistry::ProofRejected>().is_none())
    }

    /// Anchor a transparency-log root (sender must be an anchorer); the gas it used.
    pub async fn anchor(&self, tree_size: u64, root: B256) -> Result<u64, LedgerError> {
        let anchor = ReceiptAnchor::new(self.deployment.anchor, self.provider.clone());
        let receipt = transact!("ReceiptAnchor", anchor, anchor(tree_size, root));
        Ok(receipt.gas_used)
    }

    /// Allow (or stop) `who` anchoring roots (sender must own the anchor contract).
    pub async fn set_anchorer(&self, who: Address, enabled: bool) -> Result<(), LedgerError> {
        let anchor = ReceiptAnchor::new(self.deployment.anchor, self.provider.clone());
        transact!("ReceiptAnchor", anchor, setAnchorer(who, enabled));
        Ok(())
    }

    fn federations(&self) -> Result<FederationRegistry::FederationRegistryInstance<P>, LedgerError> {
        if self.deployment.federations.is_zero() {
            return Err(LedgerError::Transport(
                "this deployment has no federation registry (deployed before it existed)".into(),
            ));
        }
        Ok(FederationRegistry::new(self.deployment.federations, self.provider.clone()))
    }

    /// Create federation `id` with its owner's and participants' Ed25519 keys and its
    /// aggregator's enclave address; returns its key on chain.
    pub async fn fl_create(
        &self,
        id: &str,
        owner_key: B256,
        clients: Vec<B256>,
        aggregator: Address,
    ) -> Result<B256, LedgerError> {
        let reg = self.federations()?;
        transact!("FederationRegistry", reg, create(id.to_owned(), owner_key, clients, aggregator));
        Ok(alloy::primitives::keccak256(id.as_bytes()))
    }

    /// Name another aggregator for `fid` (sender must be its owner).
    pub async fn fl_set_aggregator(&self, fid: B256, aggregator: Address) -> Result<(), LedgerError> {
        let reg = self.federations()?;
        transact!("FederationRegistry", reg, setAggregator(fid, aggregator));
        Ok(())
    }

    /// Record a round with its aggregator's 65-byte signature; returns the gas used.
    pub async fn fl_record_round(
        &self,
        fid: B256,
        r: &RecordedRound,
        signature: alloy::primitives::Bytes,
    ) -> Result<u64, LedgerError> {
        let reg = self.federations()?;
        let receipt = transact!(
            "FederationRegistry",
            reg,
            recordRound(
                fid,
                r.round,
                r.start_root,
                r.previous_model,
                r.global_model,
                r.receipt_id,
                r.survivors.clone(),
                r.update_roots.clone(),
                signature
            )
        );
        Ok(receipt.gas_used)
    }

    /// The federation `fid`.
    pub async fn fl_federation(&self, fid: B256) -> Result<FederationInfo, LedgerError> {
        let reg = self.federations()?;
        let err = |e| LedgerError::from_contract("FederationRegistry", e);
        let f = reg.federation(fid).call().await.map_err(err)?;
        let participants = reg.participants(fid).call().await.map_err(err)?;
        Ok(FederationInfo {
            owner: f.owner,
            aggregator: f.aggregator,
            owner_key: f.ownerKey,
            round: f.round,
            model: f.model,
            participants,
        })
    }

    /// Round `round` of `fid`, if recorded.
    pub async fn fl_round(&self, fid: B256, round: u64) -> Result<Option<RecordedRound>, LedgerError> {
        let reg = self.federations()?;
        let r = reg
            .roundOf(fid, round)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("FederationRegistry", e))?;
        let (rec, survivors, update_roots) = (r._0, r.survivors, r.updateRoots);
        if rec.postedAt == 0 {
            return Ok(None);
        }
        Ok(Some(RecordedRound {
            round,
            start_root: rec.startRoot,
            previous_model: rec.previousModel,
            global_model: rec.globalModel,
            receipt_id: rec.receiptId,
            survivors,
            update_roots,
        }))
    }

    /// Whether `who` may anchor.
    pub async fn is_anchorer(&self, who: Address) -> Result<bool, LedgerError> {
        let anchor = ReceiptAnchor::new(self.deployment.anchor, self.provider.clone());
        anchor.anchorers(who).call().await.map_err(|e| LedgerError::from_contract("ReceiptAnchor", e))
    }

    /// The newest anchored (tree size, root, block time), if any.
    pub async fn latest_anchor(&self) -> Result<Option<(u64, B256, u64)>, LedgerError> {
        let anchor = ReceiptAnchor::new(self.deployment.anchor, self.provider.clone());
        let n = anchor
            .checkpointCount()
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("ReceiptAnchor", e))?;
        if n.is_zero() {
            return Ok(None);
        }
        let c = anchor.latest().call().await.map_err(|e| LedgerError::from_contract("ReceiptAnchor", e))?;
        Ok(Some((c.treeSize, c.root, c.anchoredAt)))
    }

    /// Send `amount` wei to `to` (funding an account).
    pub async fn send_value(&self, to: Address, amount: U256) -> Result<B256, LedgerError> {
        let tx = TransactionRequest::default().with_to(to).with_value(amount);
        let receipt = self
            .provider
            .send_transaction(tx)
            .await
            .map_err(|e| LedgerError::from_contract("transfer", e.into()))?
            .with_timeout(Some(MINING_TIMEOUT))
            .get_receipt()
            .await
            .map_err(transport)?;
        if !receipt.status() {
            return Err(LedgerError::Failed(receipt.transaction_hash.to_string()));
        }
        Ok(receipt.transaction_hash)
    }

    /// An account's balance (wei).
    pub async fn balance(&self, who: Address) -> Result<U256, LedgerError> {
        self.provider.get_balance(who).await.map_err(transport)
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, LedgerError> {
        self.provider.get_block_number().await.map_err(transport)
    }

    /// The head block's timestamp (unix seconds): the chain's own clock, which
    /// attestation expiries and job deadlines are measured against.
    pub async fn head_timestamp(&self) -> Result<u64, LedgerError> {
        let head = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(transport)?
            .ok_or_else(|| LedgerError::Transport("the chain has no head block".into()))?;
        Ok(head.header.timestamp)
    }

    /// An attestation verifier's statement, signed by `verifier` under this chain's
    /// registry domain, that `enclave_key` (running as `measurement`, evidence hashed
    /// to `evidence_hash`) belongs to `prover` for `ttl` seconds of chain time.
    pub async fn attest_prover(
        &self,
        verifier: &alloy::signers::local::PrivateKeySigner,
        prover: Address,
        enclave_key: Address,
        measurement: B256,
        evidence_hash: B256,
        ttl: u64,
    ) -> Result<SignedAttestation, LedgerError> {
        let unsigned = SignedAttestation {
            prover,
            enclave_key,
            measurement,
            evidence_hash,
            expires_at: self.head_timestamp().await? + ttl,
            signature: Default::default(),
        };
        unsigned
            .sign(verifier, &self.registry_domain().await?)
            .map_err(|e| LedgerError::Transport(format!("signing: {e}")))
    }

    /// Owner of `token`.
    pub async fn owner_of(&self, token: U256) -> Result<Address, LedgerError> {
        self.inft().ownerOf(token).call().await.map_err(|e| LedgerError::from_contract("INFT", e))
    }

    /// The id the next mint will get (an owner seals data to that token's key first).
    pub async fn next_token_id(&self) -> Result<U256, LedgerError> {
        self.inft().nextTokenId().call().await.map_err(|e| LedgerError::from_contract("INFT", e))
    }

    /// The sealed data `token` holds (reverts, as `ERC721NonexistentToken`, for a token
    /// that does not exist).
    pub async fn intelligent_data(&self, token: U256) -> Result<Vec<IntelligentData>, LedgerError> {
        let block =
            self.provider.get_block_number().await.map_err(|e| LedgerError::Transport(e.to_string()))?;
        self.intelligent_data_at(token, block).await
    }

    /// The sealed data `token` held at `block`.
    pub async fn intelligent_data_at(
        &self,
        token: U256,
        block: u64,
    ) -> Result<Vec<IntelligentData>, LedgerError> {
        self.inft()
            .intelligentDataOf(token)
            .block(block.into())
            .call()
            .await
            .map(|data| {
                data.into_iter()
                    .map(|d| IntelligentData { description: d.dataDescription, data_hash: d.dataHash })
                    .collect()
            })
            .map_err(|e| LedgerError::from_contract("INFT", e))
    }

    /// The users `token`'s owner has authorized.
    pub async fn authorized_users(&self, token: U256) -> Result<Vec<Address>, LedgerError> {
        self.inft().authorizedUsersOf(token).call().await.map_err(|e| LedgerError::from_contract("INFT", e))
    }

    /// The EIP-712 domain the INFT contract signs under, read from the chain (never
    /// assumed): its name, version, chain id and address.
    pub async fn inft_domain(&self) -> Result<Eip712Domain, LedgerError> {
        domain_of!("INFT", self.inft())
    }

    /// The proof an oracle signs to move `token` to `to` with `new_data`, bound to
    /// the token's current data root.
    #[allow(clippy::too_many_arguments)]
    pub async fn transfer_proof(
        &self,
        token: U256,
        to: Address,
        new_data: &[IntelligentData],
        sealed_key: &[u8],
        deadline: u64,
        nonce: B256,
    ) -> Result<TransferProof, LedgerError> {
        let from = self.owner_of(token).await?;
        let old_root =
            self.inft().dataRootOf(token).call().await.map_err(|e| LedgerError::from_contract("INFT", e))?;
        Ok(TransferProof {
            tokenId: token,
            from,
            to,
            oldDataRoot: old_root,
            newDataRoot: data_root(new_data),
            sealedKeyHash: keccak256(sealed_key),
            deadline: U256::from(deadline),
            nonce,
        })
    }

    /// The digest an oracle signs for `proof` under this chain's INFT domain.
    pub async fn transfer_proof_digest(&self, proof: &TransferProof) -> Result<B256, LedgerError> {
        Ok(proof.eip712_signing_hash(&self.inft_domain().await?))
    }

    /// Move a token with an oracle's signed re-encryption proof (sent by the owner).
    pub async fn transfer_with_proof(
        &self,
        proof: &TransferProof,
        new_data: &[IntelligentData],
        sealed_key: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<(), LedgerError> {
        transact!(
            "INFT",
            self.inft(),
            transferWithProof(
                proof.to,
                proof.tokenId,
                entries(new_data),
                sealed_key.into(),
                proof.deadline,
                proof.nonce,
                signature.into()
            )
        );
        Ok(())
    }

    /// Every prover ever registered, in registration order.
    pub async fn provers_list(&self) -> Result<Vec<ProverInfo>, LedgerError> {
        let registry = self.provers();
        let err = |e| LedgerError::from_contract("ProverRegistry", e);
        let count = registry.proverCount().call().await.map_err(err)?;
        let mut out = Vec::new();
        let mut i = U256::ZERO;
        while i < count {
            let address = registry.proverList(i).call().await.map_err(err)?;
            let p = registry.provers(address).call().await.map_err(err)?;
            out.push(ProverInfo {
                address,
                stake: p.stake,
                enclave_key: p.enclaveKey,
                measurement: p.measurement,
                reputation_bps: p.reputationBps,
                active: p.active,
                banned: p.banned,
                attested_until: p.attestedUntil,
                successes: p.successes,
                failures: p.failures,
            });
            i += U256::from(1);
        }
        Ok(out)
    }

    /// A job by id.
    pub async fn job(&self, id: U256) -> Result<JobInfo, LedgerError> {
        let j =
            self.jobs().getJob(id).call().await.map_err(|e| LedgerError::from_contract("JobRegistry", e))?;
        let status = match j.status {
            1 => "open",
            2 => "completed",
            3 => "cancelled",
            _ => "none",
        };
        Ok(JobInfo {
            id,
            requester: j.requester,
            data_hash: j.dataHash,
            model_hash: j.modelHash,
            fee: j.fee,
            deadline: j.deadline,
            status,
            prover: j.prover,
            result_hash: j.resultHash,
            receipt_id: j.receiptId,
            assigned: j.assigned,
            assigned_until: j.assignedUntil,
        })
    }

    /// Pull the sender's fee share or refund from the prover registry.
    pub async fn withdraw_fees(&self) -> Result<(), LedgerError> {
        transact!("ProverRegistry", self.provers(), withdraw());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_entry_is_a_root_and_an_optional_description() {
        let root = format!("0x{}", "ab".repeat(32));
        let bare: IntelligentData = root.parse().unwrap();
        assert_eq!(bare, IntelligentData { description: String::new(), data_hash: root.parse().unwrap() });
        let named: IntelligentData = format!("{root}:patients: 2024").parse().unwrap();
        assert_eq!(named.description, "patients: 2024", "only the first colon separates");
        for bad in ["", "0x12", "patients", &format!(":{root}"), &format!("{root}00:x")] {
            let e = bad.parse::<IntelligentData>().unwrap_err();
            assert!(e.to_string().starts_with(bad), "{e}");
        }
    }
}
