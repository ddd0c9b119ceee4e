//! The serving marketplace inside the enclave: a paid chat for the holder of a 0G
//! compute SDK API key, and the two things this enclave's chain key signs for it.
//!
//! The key is verified here, not only at the gateway: a receipt names as its subject
//! a user whose own signature this enclave checked, and prices that user's usage at
//! the prices the gateway read from the chain (`market.charged`). The chain key (the
//! service's acknowledged TEE signer, bound in this enclave's evidence) then signs:
//! - a receipt's JSON, for the SDK's `processResponse` (EIP-191): the signed text is
//!   the receipt itself, so it binds the completion, the usage and the fee;
//! - a settlement over receipts (EIP-712 `TEESettlement`): only receipts this enclave
//!   signed, all for the one user and provider, each charged once in the batch; the
//!   fee is their sum and `requestsHash` commits to their ids, so a user shown the
//!   receipts can recompute what was charged and dispute it.
//!
//! A receipt is paid at most once even if the host asks again: the first settlement
//! that includes it binds it to that settlement's slot (chain, contract, nonce), and
//! the enclave signs it again only in that slot, which the contract pays once (a
//! retry after a refused transaction reuses the slot). The binding lives as long as
//! this enclave's keys: a receipt is settled only by the enclave that signed it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use alloy::primitives::{Address, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::SolStruct;
use veil_protocol::market::{
    ApiKey, MarketChat, ResponseSignature, SettleRequest, SignedSettlement, TEESettlement, requests_hash,
    serving_domain,
};
use veil_protocol::{JobOutput, JobResponse};
use veil_receipt::events::{MarketCharged, ModelLoaded, RequestReceived};
use veil_receipt::{Event, Mode, SignedReceipt};

use crate::worker::{Engine, Timings, internal};
use crate::{JobError, Worker};

/// Receipts this enclave has put in a settlement: id → (chain, contract, nonce).
pub type SettledReceipts = HashMap<String, (u64, Address, U256)>;

/// Most receipts one settlement covers.
pub const MAX_SETTLEMENT_RECEIPTS: usize = 10_000;

impl Worker {
    /// A paid chat for the key's holder: no token, no key release; the user's own
    /// messages, the model, and a receipt that prices the usage.
    pub(crate) async fn market_chat(
        self: &Arc<Self>,
        m: MarketChat,
        deltas: Option<crate::worker::Deltas>,
        t: &mut Timings,
    ) -> Result<JobResponse, JobError> {
        let received = self.time();
        let key = ApiKey::parse(&m.key).map_err(JobError::Market)?;
        let now_ms = (self.clock)().saturating_mul(1000);
        let user = key.verify(m.provider, now_ms).map_err(JobError::Market)?;
        let model = self.model(&m.model).await?;
        let Engine::Llm(_) = &model.engine else {
            return Err(JobError::BadInput(format!("{} is not a language model", model.entry.name)));
        };
        m.input.check().map_err(JobError::BadInput)?;
        let session = self.session().await?;
        t.lap("signature");
        let input = m.input.clone();
        let (output, llm) = tokio::task::spawn_blocking({
            let model = model.clone();
            move || {
                let Engine::Llm(llm) = &model.engine else { unreachable!("checked above") };
                let mut on_delta =
                    |piece: &str| deltas.as_ref().is_none_or(|tx| tx.blocking_send(piece.to_owned()).is_ok());
                crate::chat::converse(llm, &model.entry.name, &input, &mut on_delta)
            }
        })
        .await
        .map_err(|_| internal("the job task failed"))??;
        t.lap("compute");
        let usage = &output.usage;
        let fee = m.prices.fee(usage.prompt_tokens, usage.completion_tokens);
        let charged = MarketCharged {
            provider: m.provider.to_checksum(None),
            chat_id: m.chat_id.clone(),
            input_price: m.prices.input.to_string(),
            output_price: m.prices.output.to_string(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            fee: fee.to_string(),
        };
        let done = self.time();
        let events = vec![
            Event::of(
                received,
                &RequestReceived {
                    signer: Some(user.to_string()),
                    nonce: Some(key.token.nonce.clone()),
                    expiry: Some(key.token.expires_at / 1000),
                    signature: Some(key.signature.clone()),
                    grant: None,
                },
            ),
            Event::of(
                received,
                &ModelLoaded { weights_hash: model.entry.root, name: model.entry.name.clone() },
            ),
            Event::of(done, &llm),
            Event::of(done, &charged),
        ];
        let input_value = serde_json::to_value(&m.input).map_err(|e| internal(e.to_string()))?;
        let shown = crate::worker::Shown {
            mode: Mode::Tee,
            subject: Some(user.to_string()),
            input_hash: crate::worker::jcs_root(&input_value)?,
            context: None,
        };
        let answer = self.finish(shown, model.entry.root, JobOutput::Chat(output), events, &session);
        t.lap("receipt");
        answer
    }

    /// The receipt as this enclave signed it, or why it is not one of its own.
    fn own_market_receipt(&self, r: &SignedReceipt) -> Result<MarketCharged, JobError> {
        let bytes = serde_json::to_vec(r).map_err(|e| internal(e.to_string()))?;
        let verified = veil_receipt::verify(&bytes)
            .map_err(|e| JobError::BadInput(format!("receipt {} does not verify: {e}", r.id)))?;
        if verified.signer != self.identity.signing_key().verifying_key() {
            return Err(JobError::BadInput(format!("receipt {} was not signed by this enclave", r.id)));
        }
        let charged = verified
            .receipt
            .events
            .iter()
            .find_map(|e| e.payload::<MarketCharged>())
            .and_then(Result::ok)
            .ok_or_else(|| JobError::BadInput(format!("receipt {} is not a marketplace chat's", r.id)))?;
        Ok(charged)
    }

    /// Sign a receipt's JSON for the SDK's `processResponse`.
    pub fn sign_market_receipt(&self, r: &SignedReceipt) -> Result<ResponseSignature, JobError> {
        self.own_market_receipt(r)?;
        let text = serde_json::to_string(r).map_err(|e| internal(e.to_string()))?;
        let sig = self.chain_key.sign_message_sync(text.as_bytes()).map_err(|e| internal(e.to_string()))?;
        Ok(ResponseSignature { text, signature: format!("0x{}", hex::encode(sig.as_bytes())) })
    }

    /// Sign one user's settlement over `req.receipts` (see the module doc).
    pub fn sign_settlement(&self, req: &SettleRequest) -> Result<SignedSettlement, JobError> {
        if req.receipts.is_empty() || req.receipts.len() > MAX_SETTLEMENT_RECEIPTS {
            return Err(JobError::BadInput(format!(
                "a settlement covers 1 to {MAX_SETTLEMENT_RECEIPTS} receipts, not {}",
                req.receipts.len()
            )));
        }
        let mut seen = HashSet::new();
        let mut total = U256::ZERO;
        for r in &req.receipts {
            let charged = self.own_market_receipt(r)?;
            if !seen.insert(r.id.as_str()) {
                return Err(JobError::BadInput(format!("receipt {} is charged twice", r.id)));
            }
            let subject = r.receipt.subject.as_deref().and_then(|s| s.parse::<Address>().ok());
            let provider = charged.provider.parse::<Address>().ok();
            if subject != Some(req.user) || provider != Some(req.provider) {
                return Err(JobError::BadInput(format!(
                    "receipt {} is not a charge to {} by {}",
                    r.id, req.user, req.provider
                )));
            }
            let fee: U256 = charged.fee.parse().map_err(|_| internal("a receipt's fee does not parse"))?;
            total = total.checked_add(fee).ok_or_else(|| internal("the fees overflow"))?;
        }
        let hash = requests_hash(req.receipts.iter().map(|r| r.id.as_str())).map_err(JobError::Market)?;
        let slot = (req.chain_id, req.serving, req.nonce);
        let mut settled = self.settled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((r, (_, _, nonce))) =
            req.receipts.iter().find_map(|r| settled.get(&r.id).filter(|s| **s != slot).map(|s| (r, s)))
        {
            return Err(JobError::BadInput(format!(
                "receipt {} is already in the settlement with nonce {nonce}; it is signed again only there",
                r.id
            )));
        }
        for r in &req.receipts {
            settled.insert(r.id.clone(), slot);
        }
        drop(settled);
        let msg = TEESettlement {
            user: req.user,
            provider: req.provider,
            totalFee: total,
            requestsHash: hash,
            nonce: req.nonce,
        };
        let digest = msg.eip712_signing_hash(&serving_domain(req.chain_id, req.serving));
        let sig = self.chain_key.sign_hash_sync(&digest).map_err(|e| internal(e.to_string()))?;
        Ok(SignedSettlement {
            user: req.user,
            provider: req.provider,
            total_fee: total,
            requests_hash: hash,
            nonce: req.nonce,
            signature: format!("0x{}", hex::encode(sig.as_bytes())),
        })
    }
}
