//! The gateway as a provider of the serving marketplace, driven by the 0G compute SDK
//! unchanged: OpenAI chat under `/v1/proxy`, the answer's signature for the SDK's
//! `processResponse`, the user's unsettled fee, the enclave's evidence, and
//! settlement on chain.
//!
//! A request is served only when its API key is the user's own, for this provider,
//! unexpired and not revoked on chain, the user's account has acknowledged the
//! service's enclave signer, and what the account can spend covers what is unsettled
//! plus the most this request can cost (else 402 with the amount due). A chat is
//! charged only once its receipt is kept: a broken stream or a receipt that fails
//! verification charges nothing.
//!
//! Invariant: a receipt is in at most one settlement. Charges wait in the book (a file
//! written atomically on every change); a batch leaves the book's unsettled list, with
//! its signed settlement, before the transaction is sent, and is dropped only when the
//! account's nonce on chain has reached it. After a crash the same signed batch is sent
//! again: the contract's strictly increasing nonce pays it at most once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::DynProvider;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use veil_ledger::{ChainClient, Settlement, SettlementStatus};
use veil_protocol::market::{
    ApiKey, ClaimState, MarketChat, MarketError, Prices, ResponseSignature, SETTLE_NOW_WINDOW_SECS,
    SettleNow, SettleRequest, SettledNow, SettlementClaim, SettlementClaims, SignReceipt, SignedSettlement,
};
use veil_protocol::{ChatInput, DEFAULT_MAX_TOKENS, JobRequest, Problem};
use veil_receipt::SignedReceipt;
use veil_receipt::events::MarketCharged;

use crate::GatewayError;
use crate::gateway::Shared;

/// Answer signatures kept for `GET /v1/proxy/signature/{chat_id}`, newest last.
const MAX_SIGNATURES: usize = 10_000;
/// Receipts in one settlement, at most.
const MAX_BATCH: usize = 500;
/// Paid settlements remembered for users' audits, oldest dropped beyond this.
const MAX_SETTLED: usize = 100_000;
/// Prompt tokens a message can add beyond its bytes (the chat template's markers).
const TEMPLATE_TOKENS_PER_MESSAGE: u64 = 16;

/// What a marketplace provider is made of.
pub struct MarketParts {
    /// The ledger with the provider's own wallet: it reads accounts and is paid.
    pub settler: ChainClient<DynProvider>,
    /// The provider's address (the wallet's).
    pub provider: Address,
    /// The book of charges (a JSON file, 0600).
    pub book: PathBuf,
    /// How often unsettled fees are settled.
    pub settle_every: Duration,
    /// A user's unsettled fees that trigger a settlement at once (wei).
    pub settle_at: U256,
}

/// One chat's charge.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Charge {
    user: Address,
    fee: U256,
    receipt: SignedReceipt,
}

/// A settlement sent (or about to be).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Batch {
    charges: Vec<Charge>,
    settlement: SignedSettlement,
}

impl Batch {
    fn claim(&self, state: ClaimState) -> Settled {
        let s = &self.settlement;
        Settled {
            user: s.user,
            claim: SettlementClaim {
                nonce: s.nonce,
                total_fee: s.total_fee,
                requests_hash: s.requests_hash,
                receipts: self.charges.iter().map(|c| c.receipt.id.to_string()).collect(),
                state,
            },
        }
    }
}

/// What the enclave signed of a user's charges.
struct Signed {
    charges: Vec<Charge>,
    settlement: Option<SignedSettlement>,
    /// Charges it refused, written off.
    refused: u64,
}

/// A paid settlement: what the user's audit is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settled {
    user: Address,
    claim: SettlementClaim,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Book {
    unsettled: Vec<Charge>,
    pending: Vec<Batch>,
    #[serde(default)]
    settled: Vec<Settled>,
    /// Charges the enclave refused to settle, counted and never charged.
    #[serde(default)]
    written_off: u64,
    /// chat id → (signature, position), oldest dropped beyond [`MAX_SIGNATURES`].
    signatures: BTreeMap<String, (u64, ResponseSignature)>,
    next: u64,
}

impl Book {
    fn unsettled_of(&self, user: Address) -> U256 {
        let waiting = self.unsettled.iter().filter(|c| c.user == user).map(|c| c.fee);
        let pending =
            self.pending.iter().filter(|b| b.settlement.user == user).map(|b| b.settlement.total_fee);
        waiting.chain(pending).fold(U256::ZERO, |a, b| a.saturating_add(b))
    }

    fn paid(&mut self, batch: &Batch) {
        self.settled.push(batch.claim(ClaimState::Settled));
        if self.settled.len() > MAX_SETTLED {
            self.settled.drain(..self.settled.len() - MAX_SETTLED);
        }
    }

    fn claims_against(&self, user: Address) -> SettlementClaims {
        let settled = self.settled.iter().filter(|s| s.user == user).map(|s| s.claim.clone());
        let pending = self
            .pending
            .iter()
            .filter(|b| b.settlement.user == user)
            .map(|b| b.claim(ClaimState::Pending).claim);
        SettlementClaims { settlements: settled.chain(pending).collect() }
    }
}

/// The marketplace's state in a gateway: the provider's ledger client and its book.
pub struct Market {
    settler: ChainClient<DynProvider>,
    provider: Address,
    path: PathBuf,
    book: tokio::sync::Mutex<Book>,
    settle_every: Duration,
    settle_at: U256,
    wake: tokio::sync::Notify,
    /// "Settle now" nonces seen within their window: (nonce, issued at).
    settle_nonces: std::sync::Mutex<Vec<(alloy::primitives::B256, u64)>>,
}

fn market(e: MarketError) -> GatewayError {
    match e {
        MarketError::Malformed(m) => GatewayError::MarketBadKey(format!(
            "the API key is not one the 0G compute SDK makes (Bearer app-sk-…): {m}"
        )),
        e => GatewayError::MarketUnauthorized(e.to_string()),
    }
}

fn ledger(e: veil_ledger::LedgerError) -> GatewayError {
    GatewayError::Ledger(e.to_string())
}

impl Market {
    /// The provider over `parts`, with the book read back from its file.
    pub fn open(parts: MarketParts) -> Result<Self, GatewayError> {
        let book = match std::fs::read(&parts.book) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                GatewayError::Storage(format!("the market book {} is damaged: {e}", parts.book.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Book::default(),
            Err(e) => return Err(GatewayError::Storage(format!("{}: {e}", parts.book.display()))),
        };
        Ok(Self {
            settler: parts.settler,
            provider: parts.provider,
            path: parts.book,
            book: tokio::sync::Mutex::new(book),
            settle_every: parts.settle_every,
            settle_at: parts.settle_at,
            wake: tokio::sync::Notify::new(),
            settle_nonces: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn save(&self, book: &Book) -> Result<(), GatewayError> {
        let bytes = serde_json::to_vec(book).map_err(|e| GatewayError::Storage(e.to_string()))?;
        veil_fs::write_atomic(&self.path, &bytes)
            .map_err(|e| GatewayError::Storage(format!("the market book {}: {e}", self.path.display())))
    }

    /// The job for a chat request carrying an SDK key, once the user may be served.
    pub(crate) async fn job(
        &self,
        g: &crate::Gateway,
        key: &str,
        model: veil_content::Root,
        input: ChatInput,
        stream: bool,
    ) -> Result<JobRequest, GatewayError> {
        let parsed = ApiKey::parse(key).map_err(market)?;
        let user = parsed.verify(self.provider, g.now().saturating_mul(1000)).map_err(market)?;
        let service = self.settler.market_service(self.provider).await.map_err(ledger)?.ok_or_else(|| {
            GatewayError::WorkerUnavailable("this provider has no service listed on chain".into())
        })?;
        input.check().map_err(GatewayError::Malformed)?;
        let prices = Prices { input: service.input_price, output: service.output_price };
        // Tokens never outnumber bytes, plus the template's markers per message.
        let prompt: u64 =
            input.messages.iter().map(|m| m.content.len() as u64 + TEMPLATE_TOKENS_PER_MESSAGE).sum();
        let most = prices.fee(prompt, u64::from(input.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
        let Some(account) = self.settler.market_account(user, self.provider).await.map_err(ledger)? else {
            return Err(GatewayError::MarketInsufficientBalance { due: most, available: U256::ZERO });
        };
        parsed.check_revocation(account.generation, account.revoked_bitmap).map_err(market)?;
        if !account.acknowledged || !service.acknowledged {
            return Err(GatewayError::MarketUnauthorized(
                "the account has not acknowledged this provider's enclave signer (acknowledgeTEESigner)"
                    .into(),
            ));
        }
        let due = self.book.lock().await.unsettled_of(user).saturating_add(most);
        if account.spendable() < due {
            return Err(GatewayError::MarketInsufficientBalance { due, available: account.spendable() });
        }
        let chat_id = crate::openai::completion_id();
        Ok(JobRequest::Market(Box::new(MarketChat {
            key: key.to_owned(),
            provider: self.provider,
            prices,
            chat_id,
            model,
            input,
            stream,
        })))
    }

    /// Charge a kept marketplace receipt and keep the enclave's signature over it.
    pub(crate) async fn charge(&self, g: &Shared, receipt: &SignedReceipt) -> Result<(), GatewayError> {
        let Some(charged) = receipt.receipt.events.iter().find_map(|e| e.payload::<MarketCharged>()) else {
            return Ok(());
        };
        let charged = charged.map_err(|e| GatewayError::WorkerFailed(format!("market.charged: {e}")))?;
        let user: Address = receipt
            .receipt
            .subject
            .as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| GatewayError::WorkerFailed("a marketplace receipt names no user".into()))?;
        let fee: U256 =
            charged.fee.parse().map_err(|_| GatewayError::WorkerFailed("market.charged fee".into()))?;
        let signature: ResponseSignature =
            worker_call(g, "/v1/market/sign", Some(&SignReceipt { receipt: receipt.clone() })).await?;
        let mut book = self.book.lock().await;
        book.next += 1;
        let at = book.next;
        book.signatures.insert(charged.chat_id.clone(), (at, signature));
        if book.signatures.len() > MAX_SIGNATURES
            && let Some(oldest) = book.signatures.iter().min_by_key(|(_, (n, _))| *n).map(|(k, _)| k.clone())
        {
            book.signatures.remove(&oldest);
        }
        if fee > U256::ZERO {
            book.unsettled.push(Charge { user, fee, receipt: receipt.clone() });
        }
        self.save(&book)?;
        if book.unsettled_of(user) >= self.settle_at {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// What `GET /v1/proxy/signature/{chat_id}` answers.
    async fn signature(&self, chat_id: &str) -> Option<ResponseSignature> {
        self.book.lock().await.signatures.get(chat_id).map(|(_, s)| s.clone())
    }

    /// Settle every user's unsettled charges: first what is pending (dropped once the
    /// chain's nonce shows it paid, else sent again), then new batches.
    pub(crate) async fn settle(&self, g: &Shared) -> Result<usize, GatewayError> {
        let mut book = self.book.lock().await;
        let mut settled = 0;
        let mut keep = Vec::new();
        for batch in std::mem::take(&mut book.pending) {
            match self.send(&batch).await {
                Ok(true) => {
                    settled += batch.charges.len();
                    book.paid(&batch);
                }
                Ok(false) => book.unsettled.extend(batch.charges),
                Err(e) => {
                    tracing::warn!(error = %e, "a settlement could not be sent; it will be sent again");
                    keep.push(batch);
                }
            }
        }
        book.pending = keep;
        self.save(&book)?;
        let users: Vec<Address> = {
            let mut u: Vec<Address> = book.unsettled.iter().map(|c| c.user).collect();
            u.sort();
            u.dedup();
            u
        };
        for user in users {
            if book.pending.iter().any(|b| b.settlement.user == user) {
                continue;
            }
            let Some(account) = self.settler.market_account(user, self.provider).await.map_err(ledger)?
            else {
                continue;
            };
            let (mine, rest): (Vec<Charge>, Vec<Charge>) =
                std::mem::take(&mut book.unsettled).into_iter().partition(|c| c.user == user);
            book.unsettled = rest;
            let (charges, later) = {
                let mut mine = mine;
                let later = mine.split_off(mine.len().min(MAX_BATCH));
                (mine, later)
            };
            book.unsettled.extend(later);
            let nonce = account.nonce + U256::from(1);
            let (charges, settlement) = match self.sign(g, user, nonce, charges).await {
                Ok(Signed { charges, settlement: Some(s), refused }) => {
                    book.written_off += refused;
                    (charges, s)
                }
                Ok(Signed { refused, .. }) => {
                    book.written_off += refused;
                    self.save(&book)?;
                    continue;
                }
                Err((e, charges)) => {
                    // Tried again on the next round; the other users are settled now.
                    tracing::warn!(%user, error = %e, "the signer worker did not sign a settlement");
                    book.unsettled.extend(charges);
                    self.save(&book)?;
                    continue;
                }
            };
            let batch = Batch { charges, settlement };
            // Out of the unsettled list before the transaction leaves.
            book.pending.push(batch.clone());
            self.save(&book)?;
            match self.send(&batch).await {
                Ok(true) => {
                    settled += batch.charges.len();
                    book.paid(&batch);
                }
                Ok(false) => book.unsettled.extend(batch.charges.clone()),
                Err(e) => {
                    tracing::warn!(error = %e, "a settlement could not be sent; it will be sent again");
                    continue;
                }
            }
            book.pending.retain(|b| b.settlement != batch.settlement);
            self.save(&book)?;
        }
        Ok(settled)
    }

    /// Have the signer enclave sign `user`'s settlement at `nonce` over `charges`. A
    /// charge it refuses (4xx: not its receipt, e.g. from before a restart, or bound
    /// to another settlement) is written off, never charged, and the rest are signed
    /// without it; on any other failure every charge is handed back.
    async fn sign(
        &self,
        g: &Shared,
        user: Address,
        nonce: U256,
        charges: Vec<Charge>,
    ) -> Result<Signed, (GatewayError, Vec<Charge>)> {
        let req = |charges: &[Charge]| SettleRequest {
            chain_id: self.settler.chain_id(),
            serving: self.settler.deployment().serving,
            user,
            provider: self.provider,
            nonce,
            receipts: charges.iter().map(|c| c.receipt.clone()).collect(),
        };
        let refused_by_enclave =
            |e: &GatewayError| matches!(e, GatewayError::Worker(p) if (400..500).contains(&p.status));
        match worker_call::<SignedSettlement>(g, "/v1/market/settle", Some(&req(&charges))).await {
            Ok(s) => return Ok(Signed { charges, settlement: Some(s), refused: 0 }),
            Err(e) if !refused_by_enclave(&e) => return Err((e, charges)),
            Err(_) => {}
        }
        // One at a time, to find the charges the enclave will not sign.
        let (mut kept, mut refused) = (Vec::new(), 0u64);
        let mut rest = charges.into_iter();
        while let Some(c) = rest.next() {
            match worker_call::<SignedSettlement>(
                g,
                "/v1/market/settle",
                Some(&req(std::slice::from_ref(&c))),
            )
            .await
            {
                Ok(_) => kept.push(c),
                Err(e) if refused_by_enclave(&e) => {
                    tracing::warn!(%user, receipt = %c.receipt.id, reason = %e, "a charge the enclave will not settle is written off");
                    refused += 1;
                }
                Err(e) => {
                    kept.push(c);
                    kept.extend(rest);
                    return Err((e, kept));
                }
            }
        }
        if kept.is_empty() {
            return Ok(Signed { charges: kept, settlement: None, refused });
        }
        match worker_call::<SignedSettlement>(g, "/v1/market/settle", Some(&req(&kept))).await {
            Ok(s) => Ok(Signed { charges: kept, settlement: Some(s), refused }),
            Err(e) => Err((e, kept)),
        }
    }

    /// Send one batch. True: paid (now or before); false: refused for good (its
    /// charges go back to the book); an error: try again later.
    async fn send(&self, batch: &Batch) -> Result<bool, GatewayError> {
        let s = &batch.settlement;
        let account = self.settler.market_account(s.user, self.provider).await.map_err(ledger)?;
        if account.as_ref().is_some_and(|a| a.nonce >= s.nonce) {
            return Ok(true);
        }
        let signature: Bytes = hex::decode(s.signature.trim_start_matches("0x"))
            .map_err(|_| GatewayError::WorkerFailed("the settlement signature is not hex".into()))?
            .into();
        let entry = Settlement {
            user: s.user,
            provider: s.provider,
            total_fee: s.total_fee,
            requests_hash: s.requests_hash,
            nonce: s.nonce,
            signature,
        };
        let results = self.settler.market_settle(std::slice::from_ref(&entry)).await.map_err(ledger)?;
        let status = results.first().map(|r| r.status);
        tracing::info!(user = %s.user, fee = %s.total_fee, nonce = %s.nonce, ?status, "settlement sent");
        Ok(match status {
            Some(SettlementStatus::Settled | SettlementStatus::Partial) => true,
            Some(SettlementStatus::InvalidNonce) => {
                let a = self.settler.market_account(s.user, self.provider).await.map_err(ledger)?;
                a.is_some_and(|a| a.nonce >= s.nonce)
            }
            _ => false,
        })
    }

    /// Settle on a schedule and whenever a user's unsettled fees reach the threshold.
    pub(crate) fn spawn_settler(g: Shared) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime to settle on: settlement is not running");
            return;
        };
        rt.spawn(async move {
            let Some(m) = g.market() else { return };
            loop {
                let _ = tokio::time::timeout(m.settle_every, m.wake.notified()).await;
                match m.settle(&g).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(receipts = n, "settled"),
                    Err(e) => tracing::warn!(error = %e, "settlement failed; it will be tried again"),
                }
            }
        });
    }

    /// The user's unsettled fees (wei).
    async fn unsettled(&self, user: Address) -> U256 {
        self.book.lock().await.unsettled_of(user)
    }

    /// Accept a "settle now" request once: the provider's, for this chain and
    /// contract, fresh at `now`, its nonce unseen.
    fn accept_settle_now(&self, req: &SettleNow, now: u64) -> Result<(), GatewayError> {
        req.verify(self.settler.chain_id(), self.settler.deployment().serving, self.provider, now)
            .map_err(|e| GatewayError::MarketUnauthorized(e.to_string()))?;
        let mut seen = self.settle_nonces.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|(_, at)| at.abs_diff(now) <= SETTLE_NOW_WINDOW_SECS);
        if seen.iter().any(|(n, _)| *n == req.nonce) {
            return Err(GatewayError::MarketUnauthorized("this settle-now request was already used".into()));
        }
        seen.push((req.nonce, req.issued_at));
        Ok(())
    }
}

/// Call the signer worker at `path`: a POST of `body`, or a GET without one.
async fn worker_call<T: serde::de::DeserializeOwned>(
    g: &Shared,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, GatewayError> {
    let url = g.pool().signer().ok_or_else(|| {
        GatewayError::WorkerUnavailable("the marketplace's signer worker is not running".into())
    })?;
    let http = g.pool().http();
    let req = match body {
        Some(b) => http.post(format!("{url}{path}")).json(b),
        None => http.get(format!("{url}{path}")),
    };
    let resp = req
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| GatewayError::WorkerUnavailable(format!("the signer worker did not answer: {e}")))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| GatewayError::WorkerFailed(format!("the signer worker's answer broke off: {e}")))?;
    if !status.is_success() {
        return Err(serde_json::from_slice::<Problem>(&bytes).map_or_else(
            |_| GatewayError::WorkerFailed(format!("the signer worker answered {status}")),
            GatewayError::Worker,
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| GatewayError::WorkerFailed(format!("the signer worker: {e}")))
}

/// A route's JSON answer or its refusal.
fn answer<T: Serialize>(r: Result<T, GatewayError>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn enabled(g: &Shared) -> Result<&Market, GatewayError> {
    g.market().ok_or(GatewayError::MarketDisabled)
}

/// `GET /v1/proxy/signature/{chat_id}`: `{text, signature}` for the SDK.
pub(crate) async fn signature(State(g): State<Shared>, Path(chat_id): Path<String>) -> Response {
    let r = async {
        let m = enabled(&g)?;
        m.signature(&chat_id).await.ok_or(GatewayError::MarketUnknownChat(chat_id.chars().take(80).collect()))
    }
    .await;
    answer(r)
}

/// The market and the user at `address`, when the request carries that user's key.
fn key_holder<'a>(
    g: &'a Shared,
    address: &str,
    headers: &HeaderMap,
) -> Result<(&'a Market, Address), GatewayError> {
    let m = enabled(g)?;
    let key = crate::chat::bearer(headers)
        .ok_or_else(|| GatewayError::MarketUnauthorized("send the SDK's Authorization header".into()))?;
    let user = ApiKey::parse(key)
        .map_err(market)?
        .verify(m.provider, g.now().saturating_mul(1000))
        .map_err(market)?;
    if address.parse::<Address>().ok() != Some(user) {
        return Err(GatewayError::MarketUnauthorized(format!("the key is {user}'s, not {address}'s")));
    }
    Ok((m, user))
}

/// `GET /v1/user/{address}/unsettledfee`: the user's fees not yet settled, for the
/// holder of that user's key.
pub(crate) async fn unsettled_fee(
    State(g): State<Shared>,
    Path(address): Path<String>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let (m, user) = key_holder(&g, &address, &headers)?;
        Ok(json!({ "unsettledFee": m.unsettled(user).await.to_string() }))
    }
    .await;
    answer(r)
}

/// `GET /v1/user/{address}/settlements`: which receipts each of the user's
/// settlements charged, for the holder of that user's key to audit against the
/// chain's `FeesSettled` records and the receipts they hold.
pub(crate) async fn settlements(
    State(g): State<Shared>,
    Path(address): Path<String>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let (m, user) = key_holder(&g, &address, &headers)?;
        Ok(m.book.lock().await.claims_against(user))
    }
    .await;
    answer(r)
}

/// `POST /v1/provider/settle`: settle now, for the provider's own signed request.
pub(crate) async fn settle_now(State(g): State<Shared>, body: axum::body::Bytes) -> Response {
    let r = async {
        let m = enabled(&g)?;
        let req: SettleNow = serde_json::from_slice(&body)
            .map_err(|e| GatewayError::Malformed(format!("a settle-now request: {e}")))?;
        m.accept_settle_now(&req, g.now())?;
        let settled = m.settle(&g).await?;
        let book = m.book.lock().await;
        let waiting = book.unsettled.len() + book.pending.iter().map(|b| b.charges.len()).sum::<usize>();
        Ok(SettledNow { settled, waiting })
    }
    .await;
    answer(r)
}

/// `GET /v1/quote`: the signer enclave's evidence, binding its chain key (the
/// service's TEE signer) to this provider's address.
pub(crate) async fn quote(State(g): State<Shared>) -> Response {
    let r = async {
        let m = enabled(&g)?;
        let path = format!("/v1/train/registration?account={:#x}", m.provider);
        let body: veil_protocol::AttestationResponse = worker_call(&g, &path, None::<&()>).await?;
        Ok::<_, GatewayError>(body)
    }
    .await;
    answer(r)
}
