//! The serving marketplace's wire: the API keys the 0G compute SDK makes
//! (`Authorization: Bearer app-sk-…`), the chat job a provider's gateway hands its
//! enclave, and what the enclave signs for the SDK (`processResponse`) and for the
//! chain (`settleFeesWithTEE`).
//!
//! An API key is `app-sk-` and the standard base64 of `JSON|SIGNATURE`: the JSON is the
//! SDK's session token (field order as the SDK writes it), the signature the user's
//! wallet's EIP-191 signature over the 32 bytes of keccak256(JSON). The bytes are
//! verified as sent, never re-serialised.

use alloy::primitives::{Address, B256, Signature, U256, keccak256};
use alloy::signers::SignerSync as _;
use alloy::sol_types::Eip712Domain;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::ChatInput;

/// The service name `InferenceServing` is registered under in `LedgerManager`.
pub const SERVING_EIP712_NAME: &str = "VeilInferenceServing";
/// Its EIP-712 version.
pub const SERVING_EIP712_VERSION: &str = "1";
/// The token id the SDK gives ephemeral (cached, at most 24 h) keys; only a
/// generation bump revokes it.
pub const EPHEMERAL_TOKEN_ID: u8 = 255;
/// Longest API key accepted (a session token is about 300 bytes).
pub const MAX_API_KEY_BYTES: usize = 4096;

alloy::sol! {
    /// What the service's TEE signer signs to be paid (EIP-712, `InferenceServing`).
    #[derive(Debug)]
    struct TEESettlement {
        address user;
        address provider;
        uint256 totalFee;
        bytes32 requestsHash;
        uint256 nonce;
    }
}

/// `InferenceServing`'s EIP-712 domain on `chain_id` at `serving`.
pub fn serving_domain(chain_id: u64, serving: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(SERVING_EIP712_NAME.into()),
        Some(SERVING_EIP712_VERSION.into()),
        Some(U256::from(chain_id)),
        Some(serving),
        None,
    )
}

/// The hash a settlement commits to: keccak256 over the receipt ids (SHA-256 each), in
/// order, so a user shown the receipts can recompute it and dispute a charge.
pub fn requests_hash<'a>(receipt_ids: impl IntoIterator<Item = &'a str>) -> Result<B256, MarketError> {
    let mut packed = Vec::new();
    for id in receipt_ids {
        let bytes = hex::decode(id.strip_prefix("sha256:").unwrap_or(id))
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| MarketError::ReceiptId(id.chars().take(80).collect()))?;
        packed.extend(bytes);
    }
    Ok(keccak256(packed))
}

/// Why an API key or a market job is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketError {
    /// Not an SDK key at all.
    #[error("malformed API key: {0}")]
    Malformed(String),
    /// The signature does not recover to the address the key names.
    #[error("the API key is not signed by {0}")]
    BadSignature(String),
    /// Past `expiresAt`.
    #[error("the API key expired at {0} ms")]
    Expired(u64),
    /// Made for another provider.
    #[error("the API key is for provider {0}, not this one")]
    ForeignProvider(String),
    /// Revoked on chain (its id's bit is set, or its generation is old).
    #[error("the API key was revoked on chain")]
    Revoked,
    /// Not a receipt id (`sha256:` and 64 hex digits).
    #[error("{0:?} is not a receipt id")]
    ReceiptId(String),
}

/// The SDK's session token, as it serialises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionToken {
    /// The user's wallet.
    pub address: String,
    /// The provider it is for.
    pub provider: String,
    /// When it was made (unix milliseconds).
    pub timestamp: u64,
    /// When it expires (unix milliseconds; 0: never, for persistent keys).
    pub expires_at: u64,
    /// Random, chosen by the SDK.
    pub nonce: String,
    /// The account's revocation generation when it was made.
    pub generation: u64,
    /// 0–254 for persistent keys, 255 for ephemeral ones.
    pub token_id: u8,
}

/// A parsed API key: the signed bytes as sent, what they say, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The JSON the user signed, byte for byte.
    pub message: String,
    /// That JSON, parsed.
    pub token: SessionToken,
    /// The 65-byte signature, 0x-hex.
    pub signature: String,
}

impl ApiKey {
    /// Parse `app-sk-…` (the bearer value).
    pub fn parse(key: &str) -> Result<Self, MarketError> {
        let bad = |m: &str| MarketError::Malformed(m.to_owned());
        if key.len() > MAX_API_KEY_BYTES {
            return Err(bad("longer than any SDK key"));
        }
        let b64 = key.strip_prefix("app-sk-").ok_or_else(|| bad("it does not start with app-sk-"))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad("what follows app-sk- is not base64"))?;
        let raw = String::from_utf8(raw).map_err(|_| bad("the decoded key is not UTF-8"))?;
        let (message, signature) =
            raw.rsplit_once('|').ok_or_else(|| bad("the decoded key is not JSON|signature"))?;
        let token: SessionToken = serde_json::from_str(message)
            .map_err(|e| MarketError::Malformed(format!("session token: {e}")))?;
        Ok(Self { message: message.to_owned(), token, signature: signature.to_owned() })
    }

    /// An ephemeral key (token id 255) as the SDK makes one: `user` signs a session
    /// token for `provider`, valid from `now_ms` for `ttl_ms`, at the account's
    /// revocation `generation`. `nonce` must be fresh (random) per key.
    pub fn issue(
        user: &alloy::signers::local::PrivateKeySigner,
        provider: Address,
        now_ms: u64,
        ttl_ms: u64,
        nonce: &str,
        generation: u64,
    ) -> Result<String, MarketError> {
        let token = SessionToken {
            address: user.address().to_string(),
            provider: provider.to_string(),
            timestamp: now_ms,
            expires_at: now_ms.saturating_add(ttl_ms),
            nonce: nonce.to_owned(),
            generation,
            token_id: EPHEMERAL_TOKEN_ID,
        };
        let message = serde_json::to_string(&token).map_err(|e| MarketError::Malformed(e.to_string()))?;
        let sig = user
            .sign_message_sync(keccak256(message.as_bytes()).as_slice())
            .map_err(|e| MarketError::Malformed(format!("signing the key: {e}")))?;
        let raw = format!("{message}|0x{}", hex::encode(sig.as_bytes()));
        Ok(format!("app-sk-{}", base64::engine::general_purpose::STANDARD.encode(raw)))
    }

    /// The user, once the signature is checked to be theirs.
    pub fn signer(&self) -> Result<Address, MarketError> {
        let claimed: Address = self
            .token
            .address
            .parse()
            .map_err(|_| MarketError::Malformed("address is not an address".into()))?;
        let sig: Signature = self
            .signature
            .parse()
            .map_err(|_| MarketError::Malformed("the signature is not 65 hex bytes".into()))?;
        let digest = keccak256(self.message.as_bytes());
        match sig.recover_address_from_msg(digest.as_slice()) {
            Ok(a) if a == claimed => Ok(claimed),
            _ => Err(MarketError::BadSignature(claimed.to_string())),
        }
    }

    /// The user, when the key is theirs, for `provider`, and unexpired at `now_ms`
    /// (revocation is on chain: [`ApiKey::check_revocation`]).
    pub fn verify(&self, provider: Address, now_ms: u64) -> Result<Address, MarketError> {
        let user = self.signer()?;
        if self.token.provider.parse::<Address>().ok() != Some(provider) {
            return Err(MarketError::ForeignProvider(self.token.provider.clone()));
        }
        let ephemeral = self.token.token_id == EPHEMERAL_TOKEN_ID;
        // The SDK never makes an ephemeral key without an expiry.
        if (self.token.expires_at != 0 || ephemeral) && now_ms >= self.token.expires_at {
            return Err(MarketError::Expired(self.token.expires_at));
        }
        Ok(user)
    }

    /// Refuse a key the account revoked: an older generation, or its id's bit set.
    pub fn check_revocation(&self, generation: U256, revoked_bitmap: U256) -> Result<(), MarketError> {
        if U256::from(self.token.generation) != generation {
            return Err(MarketError::Revoked);
        }
        if self.token.token_id != EPHEMERAL_TOKEN_ID && revoked_bitmap.bit(self.token.token_id as usize) {
            return Err(MarketError::Revoked);
        }
        Ok(())
    }
}

/// Prices of a service (wei per token), as listed on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    /// Per prompt token.
    pub input: U256,
    /// Per completion token.
    pub output: U256,
}

impl Prices {
    /// The fee for a completion's usage.
    pub fn fee(&self, prompt_tokens: u64, completion_tokens: u64) -> U256 {
        self.input
            .saturating_mul(U256::from(prompt_tokens))
            .saturating_add(self.output.saturating_mul(U256::from(completion_tokens)))
    }
}

/// A paid chat for the bearer of an SDK API key (JobRequest::Market's body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketChat {
    /// The API key the client sent, untouched (`app-sk-…`).
    pub key: String,
    /// The provider this gateway serves as.
    pub provider: Address,
    /// The service's prices when the gateway read them.
    pub prices: Prices,
    /// The OpenAI completion id the client sees (the SDK's chat id).
    pub chat_id: String,
    /// The model's weights root.
    pub model: veil_content::Root,
    /// The conversation and sampling.
    pub input: ChatInput,
    /// Answer as a stream of chat events.
    #[serde(default)]
    pub stream: bool,
}

/// `POST /v1/market/sign` (gateway → worker): sign a receipt this enclave made, for
/// the SDK's `processResponse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignReceipt {
    /// The receipt.
    pub receipt: veil_receipt::SignedReceipt,
}

/// What `GET /v1/proxy/signature/{chat_id}` answers (the SDK's shape): `text` is the
/// receipt's JSON, `signature` the enclave key's EIP-191 signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseSignature {
    /// The signed text.
    pub text: String,
    /// 0x-hex, 65 bytes.
    pub signature: String,
}

/// `POST /v1/market/settle` (gateway → worker): sign one user's settlement over
/// receipts this enclave made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettleRequest {
    /// Chain of the serving contract.
    pub chain_id: u64,
    /// The serving contract.
    pub serving: Address,
    /// The user charged.
    pub user: Address,
    /// The provider paid.
    pub provider: Address,
    /// Above the account's last settled nonce.
    pub nonce: U256,
    /// The receipts charged, in order.
    pub receipts: Vec<veil_receipt::SignedReceipt>,
}

/// The enclave's settlement: the fields of `TEESettlementData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedSettlement {
    /// The user charged.
    pub user: Address,
    /// The provider paid.
    pub provider: Address,
    /// Sum of the receipts' fees (wei).
    pub total_fee: U256,
    /// [`requests_hash`] of the receipts.
    pub requests_hash: B256,
    /// The nonce signed.
    pub nonce: U256,
    /// 0x-hex, 65 bytes.
    pub signature: String,
}

/// What a "settle now" request signs for, so the signature means nothing elsewhere.
pub const SETTLE_NOW_PURPOSE: &str = "veil market settle-now v1";
/// How far a "settle now" request's time may be from the gateway's.
pub const SETTLE_NOW_WINDOW_SECS: u64 = 300;

/// `POST /v1/market/settle` (provider → its gateway): settle what is unsettled now.
/// The provider's wallet signs (EIP-191) the purpose, chain, serving contract,
/// provider, time and a single-use nonce; the gateway accepts it only within
/// [`SETTLE_NOW_WINDOW_SECS`] and once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleNow {
    /// Chain of the serving contract.
    pub chain_id: u64,
    /// The serving contract.
    pub serving: Address,
    /// The provider (the signer).
    pub provider: Address,
    /// Unix seconds when signed.
    pub issued_at: u64,
    /// Random, single-use.
    pub nonce: B256,
    /// 0x-hex, 65 bytes.
    pub signature: String,
}

impl SettleNow {
    fn message(chain_id: u64, serving: Address, provider: Address, issued_at: u64, nonce: B256) -> String {
        format!(
            "{SETTLE_NOW_PURPOSE}\nchain {chain_id}\nserving {serving}\nprovider {provider}\nat {issued_at}\nnonce {nonce}"
        )
    }

    /// Sign as `provider`.
    pub fn sign(
        provider: &alloy::signers::local::PrivateKeySigner,
        chain_id: u64,
        serving: Address,
        issued_at: u64,
        nonce: B256,
    ) -> Result<Self, MarketError> {
        let message = Self::message(chain_id, serving, provider.address(), issued_at, nonce);
        let sig = provider
            .sign_message_sync(message.as_bytes())
            .map_err(|e| MarketError::Malformed(format!("signing: {e}")))?;
        Ok(Self {
            chain_id,
            serving,
            provider: provider.address(),
            issued_at,
            nonce,
            signature: format!("0x{}", hex::encode(sig.as_bytes())),
        })
    }

    /// Check it is `provider`'s, for this chain and contract, and fresh at `now`
    /// (single use is the caller's: it keeps the nonces seen in the window).
    pub fn verify(
        &self,
        chain_id: u64,
        serving: Address,
        provider: Address,
        now: u64,
    ) -> Result<(), MarketError> {
        if (self.chain_id, self.serving, self.provider) != (chain_id, serving, provider) {
            return Err(MarketError::ForeignProvider(format!(
                "{} on chain {} at {}",
                self.provider, self.chain_id, self.serving
            )));
        }
        if self.issued_at.abs_diff(now) > SETTLE_NOW_WINDOW_SECS {
            return Err(MarketError::Expired(self.issued_at.saturating_mul(1000)));
        }
        let sig: Signature = self
            .signature
            .parse()
            .map_err(|_| MarketError::Malformed("the signature is not 65 hex bytes".into()))?;
        let message = Self::message(self.chain_id, self.serving, self.provider, self.issued_at, self.nonce);
        match sig.recover_address_from_msg(message.as_bytes()) {
            Ok(a) if a == provider => Ok(()),
            _ => Err(MarketError::BadSignature(provider.to_string())),
        }
    }
}

/// What `POST /v1/market/settle` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledNow {
    /// Receipts paid by this call.
    pub settled: usize,
    /// Receipts still unsettled or in a settlement not yet confirmed.
    pub waiting: usize,
}

/// Where a provider's settlement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Signed and sent (or about to be), not yet seen paid.
    Pending,
    /// Paid on chain.
    Settled,
}

/// One settlement as the provider claims it: which receipts it charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementClaim {
    /// The account's nonce it carries.
    pub nonce: U256,
    /// Wei.
    pub total_fee: U256,
    /// [`requests_hash`] of `receipts`.
    pub requests_hash: B256,
    /// The receipt ids charged, in order.
    pub receipts: Vec<String>,
    /// Whether it is paid.
    pub state: ClaimState,
}

/// `GET /v1/user/{address}/settlements`: the provider's claims against the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementClaims {
    /// Oldest first.
    pub settlements: Vec<SettlementClaim>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::local::PrivateKeySigner;

    fn key_for(user: &PrivateKeySigner, provider: Address, token_id: u8, expires: u64) -> String {
        let message = format!(
            r#"{{"address":"{}","provider":"{}","timestamp":1000,"expiresAt":{expires},"nonce":"n-1","generation":0,"tokenId":{token_id}}}"#,
            user.address(),
            provider
        );
        let sig = user.sign_message_sync(keccak256(message.as_bytes()).as_slice()).expect("sign");
        let raw = format!("{message}|0x{}", hex::encode(sig.as_bytes()));
        format!("app-sk-{}", base64::engine::general_purpose::STANDARD.encode(raw))
    }

    #[test]
    fn a_key_verifies_for_its_user_and_provider_only() {
        let user = PrivateKeySigner::random();
        let provider = Address::repeat_byte(7);
        let key = ApiKey::parse(&key_for(&user, provider, 255, 5000)).expect("parse");
        assert_eq!(key.verify(provider, 4999), Ok(user.address()));
        assert_eq!(key.verify(provider, 5000), Err(MarketError::Expired(5000)));
        assert!(matches!(key.verify(Address::repeat_byte(8), 1), Err(MarketError::ForeignProvider(_))));
        assert_eq!(key.check_revocation(U256::ZERO, U256::MAX), Ok(()), "ephemeral: bitmap ignored");
        assert_eq!(key.check_revocation(U256::from(1), U256::ZERO), Err(MarketError::Revoked));
        let persistent = ApiKey::parse(&key_for(&user, provider, 3, 0)).expect("parse");
        assert_eq!(persistent.verify(provider, u64::MAX), Ok(user.address()), "0 never expires");
        assert_eq!(persistent.check_revocation(U256::ZERO, U256::from(8)), Err(MarketError::Revoked));
        assert_eq!(persistent.check_revocation(U256::ZERO, U256::from(4)), Ok(()));
    }

    #[test]
    fn a_key_whose_signed_bytes_changed_is_refused() {
        let user = PrivateKeySigner::random();
        let provider = Address::repeat_byte(7);
        let good = key_for(&user, provider, 255, 5000);
        let raw = String::from_utf8(
            base64::engine::general_purpose::STANDARD.decode(good.strip_prefix("app-sk-").unwrap()).unwrap(),
        )
        .unwrap();
        let tampered = raw.replace("\"expiresAt\":5000", "\"expiresAt\":9000");
        assert_ne!(tampered, raw);
        let key = format!("app-sk-{}", base64::engine::general_purpose::STANDARD.encode(tampered));
        let parsed = ApiKey::parse(&key).expect("parse");
        assert!(matches!(parsed.verify(provider, 1), Err(MarketError::BadSignature(_))));
        for junk in ["", "app-sk-", "app-sk-!!!", "sk-abc", &format!("app-sk-{}", "QUFB")] {
            assert!(matches!(ApiKey::parse(junk), Err(MarketError::Malformed(_))), "{junk}");
        }
    }

    #[test]
    fn an_issued_key_is_the_sdks_shape_and_verifies() {
        let user = PrivateKeySigner::random();
        let provider = Address::repeat_byte(7);
        let key = ApiKey::issue(&user, provider, 1_000, 60_000, "n-9", 2).expect("issue");
        let parsed = ApiKey::parse(&key).expect("parse");
        assert!(parsed.message.starts_with(r#"{"address":"#), "SDK field order: {}", parsed.message);
        assert_eq!(parsed.verify(provider, 60_999), Ok(user.address()));
        assert_eq!(parsed.verify(provider, 61_000), Err(MarketError::Expired(61_000)));
        assert_eq!(parsed.check_revocation(U256::from(2), U256::ZERO), Ok(()));
        assert_eq!(parsed.check_revocation(U256::from(3), U256::ZERO), Err(MarketError::Revoked));
    }

    #[test]
    fn a_settle_now_request_is_the_providers_for_this_contract_and_fresh() {
        let provider = PrivateKeySigner::random();
        let serving = Address::repeat_byte(9);
        let nonce = B256::repeat_byte(1);
        let req = SettleNow::sign(&provider, 31337, serving, 1_000, nonce).expect("sign");
        assert_eq!(req.verify(31337, serving, provider.address(), 1_100), Ok(()));
        // Another chain, contract or provider; stale; or a changed field.
        assert!(req.verify(1, serving, provider.address(), 1_000).is_err());
        assert!(req.verify(31337, Address::repeat_byte(8), provider.address(), 1_000).is_err());
        assert!(req.verify(31337, serving, Address::repeat_byte(5), 1_000).is_err());
        assert_eq!(
            req.verify(31337, serving, provider.address(), 1_301),
            Err(MarketError::Expired(1_000_000))
        );
        let moved = SettleNow { issued_at: 1_001, ..req.clone() };
        assert_ne!(moved, req);
        assert!(matches!(
            moved.verify(31337, serving, provider.address(), 1_000),
            Err(MarketError::BadSignature(_))
        ));
        let stranger =
            SettleNow::sign(&PrivateKeySigner::random(), 31337, serving, 1_000, nonce).expect("sign");
        let forged = SettleNow { provider: provider.address(), ..stranger };
        assert!(matches!(
            forged.verify(31337, serving, provider.address(), 1_000),
            Err(MarketError::BadSignature(_))
        ));
    }

    #[test]
    fn requests_hash_is_keccak_of_the_ids_in_order() {
        let a = format!("sha256:{}", "11".repeat(32));
        let b = "22".repeat(32);
        let h = requests_hash([a.as_str(), b.as_str()]).expect("hash");
        assert_eq!(h, keccak256([[0x11u8; 32], [0x22u8; 32]].concat()));
        assert_ne!(h, requests_hash([b.as_str(), a.as_str()]).expect("hash"));
        assert!(matches!(requests_hash(["zz"]), Err(MarketError::ReceiptId(_))));
    }
}
