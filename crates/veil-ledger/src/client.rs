//! One client for Veil's contracts over any alloy provider (embedded chain, anvil,
//! a public RPC).

use alloy::network::Ethereum;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;

use crate::LedgerError;
use crate::bindings::{INFT, JobRegistry, ProverRegistry, ReceiptAnchor};

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
}

/// One of a token's data entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelligentData {
    /// What the data is.
    pub description: String,
    /// Its 0G root.
    pub data_hash: B256,
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

/// Simulate first (a refusal is decoded and nothing is sent, so no nonce is spent on
/// a transaction that would revert), then send and wait for the receipt.
macro_rules! transact {
    ($contract:literal, $instance:expr, $($call:tt)+) => {{
        let instance = $instance;
        let call = instance.$($call)+;
        call.call().await.map_err(|e| LedgerError::from_contract($contract, e))?;
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

impl<P: Provider + Clone> ChainClient<P> {
    /// Deploy all four contracts with `admin` owning them; the provider's default
    /// sender pays. Wires the job registry into the prover registry.
    pub async fn deploy(
        provider: P,
        admin: Address,
        treasury: Address,
        insurance: Address,
    ) -> Result<Self, LedgerError> {
        let inft = INFT::deploy(provider.clone(), admin)
            .await
            .map_err(|e| LedgerError::from_contract("INFT", e))?;
        let provers = ProverRegistry::deploy(provider.clone(), admin, treasury, insurance)
            .await
            .map_err(|e| LedgerError::from_contract("ProverRegistry", e))?;
        let jobs = JobRegistry::deploy(provider.clone(), *provers.address())
            .await
            .map_err(|e| LedgerError::from_contract("JobRegistry", e))?;
        let anchor = ReceiptAnchor::deploy(provider.clone(), admin)
            .await
            .map_err(|e| LedgerError::from_contract("ReceiptAnchor", e))?;
        let deployment = Deployment {
            inft: *inft.address(),
            provers: *provers.address(),
            jobs: *jobs.address(),
            anchor: *anchor.address(),
        };
        let client = Self::connect(provider, deployment).await?;
        Ok(client)
    }

    /// A client of an existing deployment; the chain id is read from the node.
    pub async fn connect(provider: P, deployment: Deployment) -> Result<Self, LedgerError> {
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| LedgerError::Transport(e.to_string()))?;
        Ok(Self {
            provider,
            deployment,
            chain_id,
        })
    }

    /// The chain id the node reported.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
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
        transact!(
            "ProverRegistry",
            self.provers(),
            setJobRegistry(self.deployment.jobs)
        );
        Ok(())
    }

    /// Register `oracle` as a TEE oracle for transfers (admin only).
    pub async fn set_oracle(&self, oracle: Address, enabled: bool) -> Result<(), LedgerError> {
        transact!("INFT", self.inft(), setOracle(oracle, enabled));
        Ok(())
    }

    /// Mint a token over `data` to `to`; returns its id.
    pub async fn mint(&self, to: Address, data: &[IntelligentData]) -> Result<U256, LedgerError> {
        let entries: Vec<INFT::IntelligentData> = data
            .iter()
            .map(|d| INFT::IntelligentData {
                dataDescription: d.description.clone(),
                dataHash: d.data_hash,
            })
            .collect();
        let receipt = transact!("INFT", self.inft(), mint(to, entries));
        receipt
            .decoded_log::<INFT::Minted>()
            .map(|l| l.tokenId)
            .ok_or(LedgerError::MissingEvent("Minted"))
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
        let block = self
            .provider
            .get_block_number()
            .await
            .map_err(|e| LedgerError::Transport(e.to_string()))?;
        let ok = self
            .inft()
            .isAuthorized(token, user)
            .block(block.into())
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("INFT", e))?;
        Ok((ok, block))
    }

    /// Register the sender as a prover with `stake` wei.
    pub async fn register_prover(
        &self,
        enclave_key: Address,
        measurement: B256,
        stake: U256,
    ) -> Result<(), LedgerError> {
        transact!(
            "ProverRegistry",
            self.provers(),
            register(enclave_key, measurement).value(stake)
        );
        Ok(())
    }

    /// Slash `amount` of a prover's stake, citing `evidence` (admin only).
    pub async fn slash(&self, prover: Address, amount: U256, evidence: B256) -> Result<(), LedgerError> {
        transact!("ProverRegistry", self.provers(), slash(prover, amount, evidence));
        Ok(())
    }

    /// Submit a job with `fee` wei escrowed; returns its id.
    pub async fn submit_job(
        &self,
        data_hash: B256,
        model_hash: B256,
        fee: U256,
    ) -> Result<U256, LedgerError> {
        let receipt = transact!(
            "JobRegistry",
            self.jobs(),
            submitJob(data_hash, model_hash).value(fee)
        );
        receipt
            .decoded_log::<JobRegistry::JobSubmitted>()
            .map(|l| l.jobId)
            .ok_or(LedgerError::MissingEvent("JobSubmitted"))
    }

    /// The EIP-712 digest an enclave signs to complete a job (domain read from the chain).
    pub async fn completion_digest(
        &self,
        job: U256,
        result: B256,
        receipt_id: B256,
    ) -> Result<B256, LedgerError> {
        self.jobs()
            .completionDigest(job, result, receipt_id)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("JobRegistry", e))
    }

    /// Complete `job` as the sender (a prover) with its enclave's 65-byte signature.
    pub async fn complete_job(
        &self,
        job: U256,
        result: B256,
        receipt_id: B256,
        signature: Vec<u8>,
    ) -> Result<(), LedgerError> {
        transact!(
            "JobRegistry",
            self.jobs(),
            completeJob(job, result, receipt_id, signature.into())
        );
        Ok(())
    }

    /// Anchor a transparency-log root (sender must be an anchorer).
    pub async fn anchor(&self, tree_size: u64, root: B256) -> Result<(), LedgerError> {
        let anchor = ReceiptAnchor::new(self.deployment.anchor, self.provider.clone());
        transact!("ReceiptAnchor", anchor, anchor(tree_size, root));
        Ok(())
    }
}
