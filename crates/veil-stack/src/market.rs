//! `veil up --market`: the stack's gateway as a provider of the serving marketplace,
//! listed on the embedded chain's `InferenceServing` with its signer worker's enclave
//! key as the TEE signer.
//!
//! The key is taken from the worker's evidence for the provider's address, verified
//! under the stack's own trust (its development root and its worker measurement)
//! before the service names it and before the contract's owner acknowledges it: 0G's
//! owner flag is bare, Veil's is given only to a key an allowlisted enclave showed.

use std::path::Path;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use veil_gateway::{Market, MarketParts};
use veil_ledger::ChainClient;

use crate::{Result, StackError};

/// Wei per prompt token a stack's service asks by default (0.000001 0G per token).
pub const DEFAULT_INPUT_PRICE: u64 = 1_000_000_000_000;
/// Wei per completion token (0.000002 0G per token).
pub const DEFAULT_OUTPUT_PRICE: u64 = 2_000_000_000_000;
/// What the provider stakes to list (the contract's minimum, 1 0G).
const STAKE_WEI: u128 = 1_000_000_000_000_000_000;
/// What the operator gives a new provider wallet for its stake and gas.
const PROVIDER_FUNDS_WEI: u128 = 10 * STAKE_WEI;

/// The chain key an enclave binds in the evidence at `url` (a worker's
/// `/v1/train/registration?account=`, a gateway's `/v1/quote`) for `provider`,
/// verified under `trust` at `now`.
pub async fn attested_signer(
    url: &str,
    provider: Address,
    trust: &veil_verify::Trust,
    now: u64,
) -> Result<Address> {
    let account = format!("{provider:#x}");
    let answer: veil_protocol::AttestationResponse = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| StackError::Config(format!("the signer's evidence: {e}")))?
        .json()
        .await
        .map_err(|e| StackError::Config(format!("the signer's evidence: {e}")))?;
    veil_verify::verify_attestation_answer(
        &answer.evidence,
        &account,
        veil_protocol::PROVER_REGISTRATION_PURPOSE,
        trust,
        now,
    )
    .map_err(|e| StackError::Config(format!("the signer's evidence: {e} ({})", e.code())))?;
    answer
        .evidence
        .runtime_data
        .as_ref()
        .and_then(|rd| rd.public_keys.get(veil_worker::CHAIN_KEY))
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| StackError::Config("the signer's evidence binds no chain key".into()))
}

/// What listing the stack's gateway needs.
pub struct Listing<'a> {
    /// The stack's `market/` directory (provider key, book).
    pub dir: &'a Path,
    /// The chain's operator (the contracts' owner), funding and acknowledging.
    pub operator: &'a ChainClient<alloy::providers::DynProvider>,
    /// The provider's client from its key: see [`provider_key`].
    pub provider: ChainClient<alloy::providers::DynProvider>,
    /// The provider's address.
    pub provider_address: Address,
    /// The signer worker.
    pub worker: &'a str,
    /// Where users reach the gateway.
    pub url: &'a str,
    /// The model served.
    pub model: &'a str,
    /// What the stack trusts.
    pub trust: &'a veil_verify::Trust,
    /// Unix seconds.
    pub now: u64,
}

/// The provider's wallet key (`market/provider.key`, made on first use).
pub fn provider_key(dir: &Path) -> Result<alloy::signers::local::PrivateKeySigner> {
    veil_fs::create_private_dir(dir)?;
    let file = dir.join("provider.key");
    if !file.exists() {
        crate::keys::new_wallet_key(&file)?;
    }
    crate::keys::read_wallet_key(&file)
}

/// List (or refresh) the service with the signer worker's attested key, have the owner
/// acknowledge it, and open the gateway's market.
pub async fn list(l: Listing<'_>) -> Result<Market> {
    let deployment = l.operator.deployment();
    if deployment.serving == Address::ZERO {
        return Err(StackError::Config(
            "this stack's chain was deployed before the serving marketplace existed; start a new stack (another --dir)"
                .into(),
        ));
    }
    if l.operator.balance(l.provider_address).await? < U256::from(2 * STAKE_WEI) {
        l.operator.send_value(l.provider_address, U256::from(PROVIDER_FUNDS_WEI)).await?;
    }
    let registration =
        format!("{}/v1/train/registration?account={:#x}", l.worker.trim_end_matches('/'), l.provider_address);
    let signer = attested_signer(&registration, l.provider_address, l.trust, l.now).await?;
    let listed = l.provider.market_service(l.provider_address).await?;
    let stake = if listed.is_some() { U256::ZERO } else { U256::from(STAKE_WEI) };
    let (input, output) = match &listed {
        Some(s) => (s.input_price, s.output_price),
        None => (U256::from(DEFAULT_INPUT_PRICE), U256::from(DEFAULT_OUTPUT_PRICE)),
    };
    // Chats are delivered in an attested enclave only: the one privacy level listed.
    let levels = serde_json::json!({ "tee": { "input": input.to_string(), "output": output.to_string() } });
    let info = serde_json::json!({
        "ProviderType": "decentralized",
        "Veil": { "quote": format!("{}/v1/quote", l.url), "levels": levels },
    });
    l.provider.market_list_service(l.url, l.model, input, output, &info.to_string(), signer, stake).await?;
    l.operator.market_acknowledge_signer(l.provider_address).await?;
    tracing::info!(provider = %l.provider_address, %signer, url = l.url, "listed on the serving marketplace");
    Ok(Market::open(MarketParts {
        settler: l.provider,
        provider: l.provider_address,
        book: l.dir.join("book.json"),
        settle_every: Duration::from_secs(5),
        settle_at: U256::from(STAKE_WEI / 10),
    })?)
}
