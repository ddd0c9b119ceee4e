//! `veil market …`: the serving marketplace from a user's side (list, fund,
//! acknowledge, chat, balance, refund, audit) and a provider's (settle now).
//!
//! Trust decisions made here: a provider's enclave signer is acknowledged only after
//! its evidence, fetched from the provider's `/v1/quote`, verifies under the user's
//! trust and binds exactly the signer the chain lists for exactly that provider; a
//! chat's answer is accepted only when the receipt is signed by that acknowledged
//! signer and names this completion, this user and a fee equal to its usage at its
//! prices; a settlement is supported only when the provider's claim for it hashes to
//! the chain's `requestsHash` and every receipt it charged is one the user holds.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::utils::format_ether;
use alloy::primitives::{Address, B256, Signature, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use veil_ledger::{ChainClient, MarketService};
use veil_protocol::market::{
    ApiKey, ClaimState, ResponseSignature, SettleNow, SettledNow, SettlementClaims, requests_hash,
};
use veil_receipt::events::{LlmCompleted, MarketCharged};

use crate::ledger::{LedgerTarget, parse_eth};
use crate::trust::TrustFiles;
use crate::{Result, StackError};

/// How long a key `veil market` makes for one call stays valid.
const KEY_TTL_MS: u64 = 10 * 60 * 1000;
/// Largest answer read from a provider.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// `veil market …`.
#[derive(Debug, clap::Subcommand)]
pub enum MarketCommand {
    /// The services listed: provider, URL, model, prices (0G per token), enclave
    /// signer, and its settlements whose signature verified and failed.
    List,
    /// Put AMOUNT (0G) in your ledger, opening it the first time.
    Fund {
        /// In 0G (decimal, e.g. 5 or 0.5).
        #[arg(long, value_parser = parse_eth)]
        amount: U256,
    },
    /// Verify PROVIDER's enclave evidence (an allowlisted enclave whose key is the
    /// listed signer, bound to this provider), then open your account with it and
    /// acknowledge that signer. Nothing is sent when the evidence does not verify.
    Ack {
        /// The provider's address.
        #[arg(long)]
        provider: Address,
        /// What to move from your ledger into the account with this provider (0G).
        #[arg(long, value_parser = parse_eth, default_value = "1")]
        deposit: U256,
        /// Whose evidence you trust.
        #[command(flatten)]
        trust: TrustFiles,
    },
    /// Ask PROVIDER, paying per token. The answer is accepted only with a receipt
    /// signed by the signer you acknowledged; the receipt is kept in --receipts.
    Chat {
        /// The provider's address.
        #[arg(long)]
        provider: Address,
        /// Directory for receipts (`<id>.json`, verifiable with `veil verify`).
        #[arg(long)]
        receipts: PathBuf,
        /// Most completion tokens (bounds the charge).
        #[arg(long)]
        max_tokens: Option<u32>,
        /// The question.
        message: String,
    },
    /// Your ledger, your account with each PROVIDER, and what each has not settled.
    Balance {
        /// Providers to show (default: every listed one you have an account with).
        #[arg(long)]
        provider: Vec<Address>,
    },
    /// Ask for your accounts with PROVIDERs back (they wait out the lock time, then a
    /// later refund collects them) and withdraw AMOUNT of the ledger's free balance.
    Refund {
        /// Providers whose accounts to retrieve.
        #[arg(long)]
        provider: Vec<Address>,
        /// What to withdraw to your wallet (0G; default: all that is free).
        #[arg(long, value_parser = parse_eth)]
        amount: Option<U256>,
    },
    /// Check each of your settlements on chain against the provider's claim and the
    /// receipts you hold; exits 1 when a charge is not supported.
    Audit {
        /// The provider's address.
        #[arg(long)]
        provider: Address,
        /// The receipts `veil market chat` kept.
        #[arg(long)]
        receipts: PathBuf,
    },
    /// As a provider (--key is its wallet): have your gateway settle now.
    Settle {
        /// The gateway (default: the URL your service lists).
        #[arg(long)]
        gateway: Option<String>,
    },
    /// As a provider: run a stack whose gateway is listed (`veil up --market`).
    Serve(crate::stack::UpFlags),
}

/// What a command reports: JSON for the terminal, and whether it went as it should
/// (an audit that found a dispute did not).
pub struct Outcome {
    /// The report.
    pub report: Value,
    /// False when the command found something wrong (exit 1).
    pub ok: bool,
}

fn done(report: Value) -> Result<Outcome> {
    Ok(Outcome { report, ok: true })
}

fn eth(v: U256) -> String {
    format_ether(v)
}

fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| StackError::Config(format!("HTTP client: {e}")))
}

fn random_hex() -> Result<String> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| StackError::Config(format!("random: {e}")))?;
    Ok(hex::encode(raw))
}

/// A provider's answer: the JSON body, or its refusal (OpenAI's error shape or a
/// problem document) on one line.
async fn json_answer(resp: reqwest::Result<reqwest::Response>, what: &str) -> Result<Value> {
    let mut resp = resp.map_err(|e| StackError::Config(format!("{what}: {e}")))?;
    let status = resp.status();
    // Read at most the limit: a provider is not trusted with this process's memory.
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| StackError::Config(format!("{what}: {e}")))? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(StackError::Config(format!(
                "{what}: the answer is larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let err = &body["error"];
        let (code, message) = match (err["code"].as_str(), err["message"].as_str()) {
            (Some(c), Some(m)) => (c.to_owned(), m.to_owned()),
            _ => (
                body["code"].as_str().unwrap_or("").to_owned(),
                body["detail"].as_str().or(body["title"].as_str()).unwrap_or("").to_owned(),
            ),
        };
        return Err(StackError::Config(format!("{what}: {status} {code}: {message}")));
    }
    if body.is_null() {
        return Err(StackError::Config(format!("{what}: the answer is not JSON")));
    }
    Ok(body)
}

/// The listed service of `provider`, or a clear refusal.
async fn service(
    client: &ChainClient<alloy::providers::DynProvider>,
    provider: Address,
) -> Result<MarketService> {
    client
        .market_service(provider)
        .await?
        .ok_or_else(|| StackError::Config(format!("{provider} has no service listed")))
}

/// A fresh SDK key of `user` for `provider`, at the account's generation.
async fn api_key(
    client: &ChainClient<alloy::providers::DynProvider>,
    user: &PrivateKeySigner,
    provider: Address,
    now: u64,
) -> Result<String> {
    let generation = client
        .market_account(user.address(), provider)
        .await?
        .map_or(0, |a| u64::try_from(a.generation).unwrap_or(u64::MAX));
    ApiKey::issue(user, provider, now.saturating_mul(1000), KEY_TTL_MS, &random_hex()?, generation)
        .map_err(|e| StackError::Config(e.to_string()))
}

/// Run a `veil market` command (other than `serve`, which the binary runs as `up`).
pub async fn run(target: &LedgerTarget, command: MarketCommand, clock: fn() -> u64) -> Result<Outcome> {
    let ledger = target.connect(clock).await?;
    let client = &ledger.client;
    let me = || target.signing_key();
    match command {
        MarketCommand::List => list(client).await,
        MarketCommand::Fund { amount } => {
            let user = me()?.address();
            client.market_fund(user, amount).await?;
            let (available, total) = client.market_ledger_balance(user).await?.unwrap_or_default();
            done(json!({ "user": user, "available": eth(available), "total": eth(total) }))
        }
        MarketCommand::Ack { provider, deposit, trust } => {
            ack(client, me()?.address(), provider, deposit, &trust.load()?, clock()).await
        }
        MarketCommand::Chat { provider, receipts, max_tokens, message } => {
            chat(client, &me()?, provider, &receipts, max_tokens, &message, clock()).await
        }
        MarketCommand::Balance { provider } => balance(client, &me()?, provider, clock()).await,
        MarketCommand::Refund { provider, amount } => {
            let user = me()?.address();
            if !provider.is_empty() {
                client.market_retrieve(provider).await?;
            }
            let (available, _) = client
                .market_ledger_balance(user)
                .await?
                .ok_or_else(|| StackError::Config(format!("{user} has no ledger")))?;
            let amount = amount.unwrap_or(available);
            if amount > U256::ZERO {
                client.market_refund(amount).await?;
            }
            let (available, total) = client.market_ledger_balance(user).await?.unwrap_or_default();
            done(json!({ "refunded": eth(amount), "available": eth(available), "total": eth(total) }))
        }
        MarketCommand::Audit { provider, receipts } => {
            audit(client, &me()?, provider, &receipts, clock()).await
        }
        MarketCommand::Settle { gateway } => settle(client, &me()?, gateway, clock()).await,
        MarketCommand::Serve(_) => {
            Err(StackError::Config("`veil market serve` runs as `veil up --market`".into()))
        }
    }
}

async fn list(client: &ChainClient<alloy::providers::DynProvider>) -> Result<Outcome> {
    let mut out = Vec::new();
    for s in client.market_services().await? {
        let proofs = client.market_proofs(s.provider).await?;
        let levels: Value = serde_json::from_str::<Value>(&s.additional_info)
            .ok()
            .and_then(|v| v.get("Veil").and_then(|v| v.get("levels")).cloned())
            .unwrap_or(Value::Null);
        out.push(json!({
            "provider": s.provider,
            "url": s.url,
            "model": s.model,
            "verifiability": s.verifiability,
            "input_price": eth(s.input_price),
            "output_price": eth(s.output_price),
            "levels": levels,
            "tee_signer": s.tee_signer,
            "acknowledged_by_owner": s.acknowledged,
            "proofs": { "verified": proofs.verified.to_string(), "failed": proofs.failed.to_string() },
        }));
    }
    done(json!({ "services": out }))
}

async fn ack(
    client: &ChainClient<alloy::providers::DynProvider>,
    user: Address,
    provider: Address,
    deposit: U256,
    trust: &veil_verify::Trust,
    now: u64,
) -> Result<Outcome> {
    let s = service(client, provider).await?;
    let quote = format!("{}/v1/quote", s.url.trim_end_matches('/'));
    let attested = crate::market::attested_signer(&quote, provider, trust, now).await?;
    if attested != s.tee_signer {
        return Err(StackError::Config(format!(
            "the enclave's evidence binds {attested}, but the service lists {} as its signer: not acknowledged",
            s.tee_signer
        )));
    }
    if client.market_account(user, provider).await?.is_none() || deposit > U256::ZERO {
        client.market_transfer(provider, deposit).await?;
    }
    client.market_acknowledge(provider).await?;
    let account = client
        .market_account(user, provider)
        .await?
        .ok_or_else(|| StackError::Config("the account did not open".into()))?;
    done(json!({
        "provider": provider,
        "signer": attested,
        "verified": "the signer is an allowlisted enclave's key, bound to this provider",
        "acknowledged": account.acknowledged,
        "balance": eth(account.balance),
    }))
}

/// Check an answer's receipt text and signature: signed by `signer`, a marketplace
/// receipt of `user`'s chat `chat_id` with `provider`, for `content`, charging its
/// usage at its prices. Returns the receipt's id and fee.
fn check_answer(
    sig: &ResponseSignature,
    signer: Address,
    user: Address,
    provider: Address,
    chat_id: &str,
    content: &str,
) -> Result<(String, U256)> {
    let bad = |m: String| StackError::Config(format!("the provider's answer is not accepted: {m}"));
    let signature: Signature =
        sig.signature.parse().map_err(|_| bad("its signature is not 65 hex bytes".into()))?;
    let recovered = signature
        .recover_address_from_msg(sig.text.as_bytes())
        .map_err(|_| bad("its signature does not recover".into()))?;
    if recovered != signer {
        return Err(bad(format!("signed by {recovered}, not the acknowledged signer {signer}")));
    }
    let verified = veil_receipt::verify(sig.text.as_bytes()).map_err(|e| bad(format!("receipt: {e}")))?;
    let receipt = &verified.receipt;
    if receipt.subject.as_deref().and_then(|s| s.parse::<Address>().ok()) != Some(user) {
        return Err(bad("the receipt is not for you".into()));
    }
    let event = |e: &veil_receipt::Event| e.payload::<MarketCharged>();
    let charged = receipt
        .events
        .iter()
        .find_map(event)
        .ok_or_else(|| bad("the receipt charges nothing (no market.charged)".into()))?
        .map_err(|e| bad(format!("market.charged: {e}")))?;
    if charged.provider.parse::<Address>().ok() != Some(provider) || charged.chat_id != chat_id {
        return Err(bad("the receipt is for another provider or chat".into()));
    }
    let completed = receipt
        .events
        .iter()
        .find_map(|e| e.payload::<LlmCompleted>())
        .ok_or_else(|| bad("the receipt records no completion".into()))?
        .map_err(|e| bad(format!("llm.completed: {e}")))?;
    // An empty completion has no content root.
    let root = match content.is_empty() {
        true => None,
        false => Some(veil_content::root_of(content.as_bytes()).map_err(|e| bad(e.to_string()))?),
    };
    if completed.completion_hash != root {
        return Err(bad("the receipt names another completion than the one received".into()));
    }
    let parse = |v: &str| v.parse::<U256>().map_err(|_| bad(format!("{v} is not wei")));
    let prices = veil_protocol::market::Prices {
        input: parse(&charged.input_price)?,
        output: parse(&charged.output_price)?,
    };
    let fee = parse(&charged.fee)?;
    if prices.fee(charged.prompt_tokens, charged.completion_tokens) != fee {
        return Err(bad("the fee is not the usage at the prices".into()));
    }
    Ok((verified.id.to_string(), fee))
}

async fn chat(
    client: &ChainClient<alloy::providers::DynProvider>,
    user: &PrivateKeySigner,
    provider: Address,
    receipts: &Path,
    max_tokens: Option<u32>,
    message: &str,
    now: u64,
) -> Result<Outcome> {
    let s = service(client, provider).await?;
    let key = api_key(client, user, provider, now).await?;
    let http = http()?;
    let url = s.url.trim_end_matches('/');
    let mut body = json!({ "model": s.model, "messages": [{ "role": "user", "content": message }] });
    if let Some(n) = max_tokens {
        body["max_tokens"] = n.into();
    }
    let answer = json_answer(
        http.post(format!("{url}/v1/proxy/chat/completions")).bearer_auth(&key).json(&body).send().await,
        "the provider's chat",
    )
    .await?;
    let chat_id = answer["id"].as_str().unwrap_or_default().to_owned();
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_owned();
    let sig: ResponseSignature = serde_json::from_value(
        json_answer(
            http.get(format!("{url}/v1/proxy/signature/{chat_id}")).bearer_auth(&key).send().await,
            "the provider's signature",
        )
        .await?,
    )
    .map_err(|e| StackError::Config(format!("the provider's signature: {e}")))?;
    let (id, fee) = check_answer(&sig, s.tee_signer, user.address(), provider, &chat_id, &content)?;
    veil_fs::create_private_dir(receipts)?;
    let file = receipts.join(format!("{}.json", id.trim_start_matches("sha256:")));
    veil_fs::write_atomic(&file, sig.text.as_bytes())
        .map_err(|e| StackError::Config(format!("{}: {e}", file.display())))?;
    done(json!({
        "content": content,
        "chat_id": chat_id,
        "usage": answer["usage"],
        "fee": eth(fee),
        "fee_wei": fee.to_string(),
        "receipt": id,
        "receipt_file": file,
    }))
}

async fn balance(
    client: &ChainClient<alloy::providers::DynProvider>,
    user: &PrivateKeySigner,
    providers: Vec<Address>,
    now: u64,
) -> Result<Outcome> {
    let me = user.address();
    let ledger = client.market_ledger_balance(me).await?;
    let providers = if providers.is_empty() {
        client.market_services().await?.into_iter().map(|s| s.provider).collect()
    } else {
        providers
    };
    let mut accounts = Vec::new();
    for provider in providers {
        let Some(a) = client.market_account(me, provider).await? else { continue };
        let s = service(client, provider).await?;
        let key = api_key(client, user, provider, now).await?;
        let unsettled = json_answer(
            http()?
                .get(format!("{}/v1/user/{me:#x}/unsettledfee", s.url.trim_end_matches('/')))
                .bearer_auth(&key)
                .send()
                .await,
            "the provider's unsettled fee",
        )
        .await
        .ok()
        .and_then(|v| v["unsettledFee"].as_str().and_then(|f| f.parse::<U256>().ok()));
        accounts.push(json!({
            "provider": provider,
            "balance": eth(a.balance),
            "pending_refund": eth(a.pending_refund),
            "acknowledged": a.acknowledged,
            "settled_nonce": a.nonce.to_string(),
            "unsettled": unsettled.map(eth),
        }));
    }
    done(json!({
        "user": me,
        "ledger": ledger.map(|(available, total)| json!({ "available": eth(available), "total": eth(total) })),
        "accounts": accounts,
    }))
}

/// The receipts in `dir` that are this user's marketplace receipts with `provider`:
/// id → fee. Files that are not are reported, not trusted.
fn held_receipts(
    dir: &Path,
    user: Address,
    provider: Address,
) -> Result<(BTreeMap<String, U256>, Vec<String>)> {
    let mut held = BTreeMap::new();
    let mut ignored = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((held, ignored)),
        Err(e) => return Err(StackError::Io { context: dir.display().to_string(), source: e }),
    };
    for entry in entries {
        let path =
            entry.map_err(|e| StackError::Io { context: dir.display().to_string(), source: e })?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let receipt = veil_fs::read_limited(&path, MAX_ANSWER_BYTES as u64)
            .ok()
            .and_then(|b| veil_receipt::verify(&b).ok())
            .filter(|v| v.receipt.subject.as_deref().and_then(|s| s.parse::<Address>().ok()) == Some(user));
        let charged = receipt.as_ref().and_then(|v| {
            let c = v.receipt.events.iter().find_map(|e| e.payload::<MarketCharged>())?.ok()?;
            (c.provider.parse::<Address>().ok() == Some(provider)).then_some((v.id.to_string(), c.fee))
        });
        match charged.and_then(|(id, fee)| Some((id, fee.parse::<U256>().ok()?))) {
            Some((id, fee)) => {
                held.insert(id, fee);
            }
            None => ignored.push(path.display().to_string()),
        }
    }
    Ok((held, ignored))
}

async fn audit(
    client: &ChainClient<alloy::providers::DynProvider>,
    user: &PrivateKeySigner,
    provider: Address,
    dir: &Path,
    now: u64,
) -> Result<Outcome> {
    let me = user.address();
    let s = service(client, provider).await?;
    let (held, ignored) = held_receipts(dir, me, provider)?;
    let on_chain = client.market_settlements(me, provider).await?;
    let key = api_key(client, user, provider, now).await?;
    let claims: SettlementClaims = serde_json::from_value(
        json_answer(
            http()?
                .get(format!("{}/v1/user/{me:#x}/settlements", s.url.trim_end_matches('/')))
                .bearer_auth(&key)
                .send()
                .await,
            "the provider's settlements",
        )
        .await?,
    )
    .map_err(|e| StackError::Config(format!("the provider's settlements: {e}")))?;
    let mut charged: HashSet<String> = HashSet::new();
    let mut report = Vec::new();
    let mut disputed = 0usize;
    for paid in &on_chain {
        let mut reasons = Vec::new();
        let claim = claims.settlements.iter().find(|c| c.nonce == paid.nonce);
        match claim {
            None => reasons.push("the provider shows no receipts for this settlement".to_owned()),
            Some(c) => {
                let ids = c.receipts.iter().map(String::as_str);
                if requests_hash(ids).ok() != Some(paid.requests_hash) {
                    reasons.push(
                        "the provider's receipt list does not hash to the requestsHash on chain".into(),
                    );
                }
                if c.total_fee != paid.total_fee {
                    reasons.push(format!(
                        "the provider claims {} but the chain charged for {}",
                        c.total_fee, paid.total_fee
                    ));
                }
                let mut sum = U256::ZERO;
                for id in &c.receipts {
                    match held.get(id) {
                        Some(fee) => sum = sum.saturating_add(*fee),
                        None => reasons.push(format!("receipt {id} is not one you hold")),
                    }
                    if !charged.insert(id.clone()) {
                        reasons.push(format!("receipt {id} is charged twice"));
                    }
                }
                if sum != paid.total_fee && c.receipts.iter().all(|id| held.contains_key(id)) {
                    reasons.push(format!(
                        "your receipts add up to {sum}, the chain charged for {}",
                        paid.total_fee
                    ));
                }
            }
        }
        if !reasons.is_empty() {
            disputed += 1;
        }
        report.push(json!({
            "nonce": paid.nonce.to_string(),
            "tx": paid.tx,
            "total_fee": eth(paid.total_fee),
            "charged": eth(paid.charged),
            "requests_hash": paid.requests_hash,
            "receipts": claim.map_or(0, |c| c.receipts.len()),
            "verdict": if reasons.is_empty() { "supported" } else { "disputed" },
            "reasons": reasons,
        }));
    }
    let pending = claims.settlements.iter().filter(|c| c.state == ClaimState::Pending).count();
    let unsettled: Vec<&String> = held.keys().filter(|id| !charged.contains(*id)).collect();
    Ok(Outcome {
        ok: disputed == 0,
        report: json!({
            "provider": provider,
            "settlements": report,
            "disputed": disputed,
            "pending": pending,
            "held_not_charged": unsettled,
            "ignored_files": ignored,
        }),
    })
}

async fn settle(
    client: &ChainClient<alloy::providers::DynProvider>,
    provider: &PrivateKeySigner,
    gateway: Option<String>,
    now: u64,
) -> Result<Outcome> {
    let url = match gateway {
        Some(g) => g,
        None => service(client, provider.address()).await?.url,
    };
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|e| StackError::Config(format!("random: {e}")))?;
    let req =
        SettleNow::sign(provider, client.chain_id(), client.deployment().serving, now, B256::from(nonce))
            .map_err(|e| StackError::Config(e.to_string()))?;
    let answer: SettledNow = serde_json::from_value(
        json_answer(
            http()?.post(format!("{}/v1/provider/settle", url.trim_end_matches('/'))).json(&req).send().await,
            "the gateway's settlement",
        )
        .await?,
    )
    .map_err(|e| StackError::Config(format!("the gateway's settlement: {e}")))?;
    done(json!({ "settled": answer.settled, "waiting": answer.waiting }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serve `body` once with `status` on loopback; the URL.
    async fn serve_once(status: u16, body: Vec<u8>) -> String {
        let app = axum::Router::new().fallback(move || {
            let body = body.clone();
            async move { (axum::http::StatusCode::from_u16(status).expect("status"), body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn a_providers_answer_is_read_within_its_limit_and_refusals_on_one_line() {
        let huge = serve_once(200, vec![b' '; MAX_ANSWER_BYTES + 1]).await;
        let e = json_answer(reqwest::get(&huge).await, "the chat").await.unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        let refusal = br#"{"error":{"message":"pay first","type":"insufficient_quota","code":"market.insufficient_balance"}}"#;
        let url = serve_once(402, refusal.to_vec()).await;
        let e = json_answer(reqwest::get(&url).await, "the chat").await.unwrap_err().to_string();
        assert_eq!(e, "the chat: 402 Payment Required market.insufficient_balance: pay first");
        let url = serve_once(200, b"not json".to_vec()).await;
        let e = json_answer(reqwest::get(&url).await, "the chat").await.unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
        let url = serve_once(200, br#"{"id":"chatcmpl-1"}"#.to_vec()).await;
        assert_eq!(
            json_answer(reqwest::get(&url).await, "the chat").await.expect("json")["id"],
            "chatcmpl-1"
        );
    }
}
