//! The serving marketplace's contracts (`LedgerManager`, `InferenceServing`): what a
//! provider's gateway reads before serving a request and sends to be paid, and what
//! its operator does to list and vouch for a service.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;

use super::{ChainClient, mined};
use crate::LedgerError;
use crate::bindings::{InferenceServing, LedgerManager};

/// The name `InferenceServing` is registered under (`<type>-<version>`): what the 0G
/// compute SDK reads at start and passes to `transferFund`.
pub const SERVICE_NAME: &str = "inference-v1.0";
/// How long a refund waits, so what was served before it can still be settled.
pub const LOCK_TIME_SECS: u64 = 3600;

/// Deploy the marketplace's two contracts owned by `admin` (the provider's sender)
/// and register the serving contract with the ledger.
pub(crate) async fn deploy<P: Provider + Clone>(
    provider: &P,
    admin: Address,
) -> Result<(Address, Address), LedgerError> {
    let ledger = LedgerManager::deploy(provider.clone(), admin)
        .await
        .map_err(|e| LedgerError::from_contract("LedgerManager", e))?;
    let serving =
        InferenceServing::deploy(provider.clone(), U256::from(LOCK_TIME_SECS), *ledger.address(), admin)
            .await
            .map_err(|e| LedgerError::from_contract("InferenceServing", e))?;
    let (service_type, version) = SERVICE_NAME.split_once('-').expect("type-version");
    transact!(
        "LedgerManager",
        &ledger,
        registerService(
            service_type.into(),
            version.into(),
            *serving.address(),
            "Veil's attested chat serving".into()
        )
    );
    Ok((*ledger.address(), *serving.address()))
}

/// A listed service, as `getService` reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MarketService {
    /// The provider's address (the service's key).
    pub provider: Address,
    /// `chatbot` for chat.
    pub service_type: String,
    /// Where the provider's gateway listens.
    pub url: String,
    /// Wei per prompt token.
    pub input_price: U256,
    /// Wei per completion token.
    pub output_price: U256,
    /// The model served.
    pub model: String,
    /// `TeeML` for an enclave-signed service.
    pub verifiability: String,
    /// JSON the SDK parses (`ProviderType` …).
    pub additional_info: String,
    /// The enclave key that signs answers and settlements.
    pub tee_signer: Address,
    /// Whether the contract owner vouched for that key.
    pub acknowledged: bool,
}

impl From<InferenceServing::Service> for MarketService {
    fn from(s: InferenceServing::Service) -> Self {
        Self {
            provider: s.provider,
            service_type: s.serviceType,
            url: s.url,
            input_price: s.inputPrice,
            output_price: s.outputPrice,
            model: s.model,
            verifiability: s.verifiability,
            additional_info: s.additionalInfo,
            tee_signer: s.teeSignerAddress,
            acknowledged: s.teeSignerAcknowledged,
        }
    }
}

/// A user's sub-account with a provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MarketAccount {
    /// The last settled nonce.
    pub nonce: U256,
    /// Wei held for the provider.
    pub balance: U256,
    /// Wei requested back and not yet collected.
    pub pending_refund: U256,
    /// Whether the user acknowledged the provider's enclave signer.
    pub acknowledged: bool,
    /// API keys of an older generation are revoked.
    pub generation: U256,
    /// Revoked persistent key ids.
    pub revoked_bitmap: U256,
}

impl MarketAccount {
    /// What a settlement can still take: the balance not on its way back.
    pub fn spendable(&self) -> U256 {
        self.balance.saturating_sub(self.pending_refund)
    }
}

/// One entry of a `settleFeesWithTEE` batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The user charged.
    pub user: Address,
    /// The provider paid (the sender).
    pub provider: Address,
    /// Wei.
    pub total_fee: U256,
    /// keccak256 of the receipt ids charged.
    pub requests_hash: B256,
    /// Above the account's last.
    pub nonce: U256,
    /// The TEE signer's EIP-712 signature.
    pub signature: Bytes,
}

/// What the contract did with one settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    /// Paid in full.
    Settled,
    /// The balance paid part; the rest is unsettled.
    Partial,
    /// Sent by someone other than the provider it names.
    ProviderMismatch,
    /// The provider has no service or no signer.
    NoTeeSigner,
    /// A nonce at or below the account's last: a replay.
    InvalidNonce,
    /// Not signed by the service's signer.
    InvalidSignature,
    /// The user has no account with the provider.
    NoAccount,
    /// The user or the owner has not acknowledged the signer.
    NotAcknowledged,
    /// A status this client does not know.
    Other(u8),
}

impl From<u8> for SettlementStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::Settled,
            1 => Self::Partial,
            2 => Self::ProviderMismatch,
            3 => Self::NoTeeSigner,
            4 => Self::InvalidNonce,
            5 => Self::InvalidSignature,
            6 => Self::NoAccount,
            7 => Self::NotAcknowledged,
            n => Self::Other(n),
        }
    }
}

/// A settlement's outcome, from its `TEESettlementResult` event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SettlementResult {
    /// The user.
    pub user: Address,
    /// What happened.
    pub status: SettlementStatus,
    /// Wei not paid.
    pub unsettled: U256,
}

/// A paid settlement as the chain recorded it (`FeesSettled`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SettledFees {
    /// The user charged.
    pub user: Address,
    /// The provider paid.
    pub provider: Address,
    /// The account's nonce it set.
    pub nonce: U256,
    /// What the enclave signed for.
    pub total_fee: U256,
    /// What the balance paid of it.
    pub charged: U256,
    /// keccak256 of the charged receipts' ids, in order.
    pub requests_hash: B256,
    /// The transaction.
    pub tx: B256,
}

/// A service's record of enclave-signed settlements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ServiceProofs {
    /// Settlements whose signature verified.
    pub verified: U256,
    /// Settlements refused for a bad signature.
    pub failed: U256,
}

impl<P: Provider + Clone> ChainClient<P> {
    fn serving(&self) -> InferenceServing::InferenceServingInstance<P> {
        InferenceServing::new(self.deployment.serving, self.provider.clone())
    }

    fn market_ledger(&self) -> LedgerManager::LedgerManagerInstance<P> {
        LedgerManager::new(self.deployment.market_ledger, self.provider.clone())
    }

    /// `provider`'s service, if listed.
    pub async fn market_service(&self, provider: Address) -> Result<Option<MarketService>, LedgerError> {
        let serving = self.serving();
        let listed = serving
            .serviceExists(provider)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("InferenceServing", e))?;
        if !listed {
            return Ok(None);
        }
        let s = serving
            .getService(provider)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("InferenceServing", e))?;
        Ok(Some(s.into()))
    }

    /// `user`'s account with `provider`, if it exists.
    pub async fn market_account(
        &self,
        user: Address,
        provider: Address,
    ) -> Result<Option<MarketAccount>, LedgerError> {
        let serving = self.serving();
        let exists = serving
            .accountExists(user, provider)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("InferenceServing", e))?;
        if !exists {
            return Ok(None);
        }
        let a = serving
            .getAccount(user, provider)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("InferenceServing", e))?;
        Ok(Some(MarketAccount {
            nonce: a.nonce,
            balance: a.balance,
            pending_refund: a.pendingRefund,
            acknowledged: a.acknowledged,
            generation: a.generation,
            revoked_bitmap: a.revokedBitmap,
        }))
    }

    /// `user`'s ledger: (available, total) wei, if it exists.
    pub async fn market_ledger_balance(&self, user: Address) -> Result<Option<(U256, U256)>, LedgerError> {
        match self.market_ledger().getLedger(user).call().await {
            Ok(l) => Ok(Some((l.availableBalance, l.totalBalance))),
            Err(e) => match LedgerError::from_contract("LedgerManager", e) {
                LedgerError::Reverted { decoded, .. }
                    if matches!(
                        *decoded,
                        crate::ContractError::MarketLedger(
                            LedgerManager::LedgerManagerErrors::LedgerNotExists(_)
                        )
                    ) =>
                {
                    Ok(None)
                }
                e => Err(e),
            },
        }
    }

    /// List (or update) the sender's service, staking `stake` the first time.
    #[allow(clippy::too_many_arguments)]
    pub async fn market_list_service(
        &self,
        url: &str,
        model: &str,
        input_price: U256,
        output_price: U256,
        additional_info: &str,
        tee_signer: Address,
        stake: U256,
    ) -> Result<(), LedgerError> {
        let params = InferenceServing::ServiceParams {
            serviceType: "chatbot".into(),
            url: url.into(),
            model: model.into(),
            verifiability: "TeeML".into(),
            inputPrice: input_price,
            outputPrice: output_price,
            additionalInfo: additional_info.into(),
            teeSignerAddress: tee_signer,
        };
        transact!("InferenceServing", self.serving(), addOrUpdateService(params).value(stake));
        Ok(())
    }

    /// As the contract owner: vouch for `provider`'s enclave signer. Call only after
    /// verifying the enclave's evidence binds that key.
    pub async fn market_acknowledge_signer(&self, provider: Address) -> Result<(), LedgerError> {
        transact!("InferenceServing", self.serving(), acknowledgeTEESignerByOwner(provider));
        Ok(())
    }

    /// Every listed service (in listing order).
    pub async fn market_services(&self) -> Result<Vec<MarketService>, LedgerError> {
        let serving = self.serving();
        let mut out = Vec::new();
        loop {
            let page = serving
                .getAllServices(U256::from(out.len()), U256::from(100))
                .call()
                .await
                .map_err(|e| LedgerError::from_contract("InferenceServing", e))?;
            let n = page.services_.len();
            out.extend(page.services_.into_iter().map(MarketService::from));
            if n == 0 || U256::from(out.len()) >= page.total {
                return Ok(out);
            }
        }
    }

    /// `provider`'s settlements whose enclave signature verified and failed.
    pub async fn market_proofs(&self, provider: Address) -> Result<ServiceProofs, LedgerError> {
        let r = self
            .serving()
            .getServiceProofs(provider)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("InferenceServing", e))?;
        Ok(ServiceProofs { verified: r.verified, failed: r.failed })
    }

    /// Every paid settlement of `user` with `provider`, oldest first.
    pub async fn market_settlements(
        &self,
        user: Address,
        provider: Address,
    ) -> Result<Vec<SettledFees>, LedgerError> {
        let filter = Filter::new()
            .address(self.deployment.serving)
            .event_signature(InferenceServing::FeesSettled::SIGNATURE_HASH)
            .topic1(user.into_word())
            .topic2(provider.into_word())
            .from_block(0);
        let logs =
            self.provider.get_logs(&filter).await.map_err(|e| LedgerError::Transport(e.to_string()))?;
        Ok(logs
            .iter()
            .filter_map(|l| {
                let e = InferenceServing::FeesSettled::decode_log(&l.inner).ok()?.data;
                Some(SettledFees {
                    user: e.user,
                    provider: e.provider,
                    nonce: e.nonce,
                    total_fee: e.totalFee,
                    charged: e.charged,
                    requests_hash: e.requestsHash,
                    tx: l.transaction_hash?,
                })
            })
            .collect())
    }

    /// As the user `me` (the sender): open a ledger with `value` wei, or add to it.
    pub async fn market_fund(&self, me: Address, value: U256) -> Result<(), LedgerError> {
        let ledger = self.market_ledger();
        if self.market_ledger_balance(me).await?.is_some() {
            transact!("LedgerManager", &ledger, depositFund().value(value));
        } else {
            transact!("LedgerManager", &ledger, addLedger(String::new()).value(value));
        }
        Ok(())
    }

    /// As a user: move `amount` wei from the ledger to the sub-account with `provider`
    /// (opening it).
    pub async fn market_transfer(&self, provider: Address, amount: U256) -> Result<(), LedgerError> {
        transact!("LedgerManager", self.market_ledger(), transferFund(provider, SERVICE_NAME.into(), amount));
        Ok(())
    }

    /// As a user: acknowledge `provider`'s enclave signer (after verifying its evidence).
    pub async fn market_acknowledge(&self, provider: Address) -> Result<(), LedgerError> {
        transact!("InferenceServing", self.serving(), acknowledgeTEESigner(provider, true));
        Ok(())
    }

    /// As a user: ask for the sub-accounts with `providers` back (time-locked) and
    /// collect what has waited long enough.
    pub async fn market_retrieve(&self, providers: Vec<Address>) -> Result<(), LedgerError> {
        transact!("LedgerManager", self.market_ledger(), retrieveFund(providers, SERVICE_NAME.into()));
        Ok(())
    }

    /// As a user: withdraw `amount` wei of the ledger's free balance to the wallet.
    pub async fn market_refund(&self, amount: U256) -> Result<(), LedgerError> {
        transact!("LedgerManager", self.market_ledger(), refund(amount));
        Ok(())
    }

    /// As a provider: be paid for `batch`; one result per entry, in order.
    pub async fn market_settle(&self, batch: &[Settlement]) -> Result<Vec<SettlementResult>, LedgerError> {
        let entries: Vec<InferenceServing::TEESettlementData> = batch
            .iter()
            .map(|s| InferenceServing::TEESettlementData {
                user: s.user,
                provider: s.provider,
                totalFee: s.total_fee,
                requestsHash: s.requests_hash,
                nonce: s.nonce,
                signature: s.signature.clone(),
            })
            .collect();
        let receipt = transact!("InferenceServing", self.serving(), settleFeesWithTEE(entries));
        let results: Vec<SettlementResult> = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == self.deployment.serving)
            .filter_map(|l| InferenceServing::TEESettlementResult::decode_log(&l.inner).ok())
            .map(|l| SettlementResult {
                user: l.data.user,
                status: l.data.status.into(),
                unsettled: l.data.unsettledAmount,
            })
            .collect();
        if results.len() != batch.len() {
            return Err(LedgerError::MissingEvent("TEESettlementResult"));
        }
        Ok(results)
    }

    /// The serving contract's own digest for a settlement (what the TEE signer signs).
    pub async fn market_settlement_digest(&self, s: &Settlement) -> Result<B256, LedgerError> {
        self.serving()
            .settlementDigest(s.user, s.provider, s.total_fee, s.requests_hash, s.nonce)
            .call()
            .await
            .map_err(|e| LedgerError::from_contract("InferenceServing", e))
    }
}
