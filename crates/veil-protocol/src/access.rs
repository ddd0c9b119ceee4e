//! Access grants: a user's standing permission, signed once, that a stock client
//! carries as its API key.
//!
//! OpenAI and Ollama clients send one opaque bearer string with every request; they
//! cannot sign each request. So the user signs an [`AccessGrant`] once (EIP-712, in
//! the same chain-and-INFT domain as requests, under its own type, so neither
//! signature can stand for the other) and the encoded grant *is* the API key. The
//! grant names the token whose documents a chat reads, the model it may use, how many
//! new tokens one completion may ask for, and when it ends. It is a capability: who
//! holds the key may chat as the user until it expires, so keep it like a password.
//!
//! A grant is not the authorization itself. Every completion still goes through the
//! key broker, which verifies the grant's signature under its own domain and reads
//! `isAuthorized(token, user)` on the ledger at a recorded block: the owner revoking
//! the user stops the next request, whatever the grant says.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use veil_content::Root;

use crate::request::{recover, uint, within};
use crate::{RequestError, TokenId};

alloy::sol! {
    /// What a user signs to let a bearer chat over a token's documents as them.
    #[derive(Debug, PartialEq, Eq)]
    struct AccessGrant {
        uint256 tokenId;
        address user;
        bytes32 model;
        uint32 maxTokens;
        uint256 nonce;
        uint64 expiry;
    }
}

/// The longest a grant may live: a leaked key is good for at most this long.
pub const MAX_GRANT_SECS: u64 = 30 * 24 * 3600;
/// What an encoded grant starts with, so a key is recognisable in a config file and
/// a later format can be told apart.
pub const API_KEY_PREFIX: &str = "veil-grant-v1.";
/// Longest API key accepted (a grant is about 450 characters).
pub const MAX_API_KEY_CHARS: usize = 2048;

/// A signed grant as it travels (inside the API key, and from gateway to worker to
/// broker, untouched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAccessGrant {
    /// The token whose documents a chat reads (decimal uint256).
    pub token_id: String,
    /// The user the grant speaks for (0x-hex address); the signer must be this user.
    pub user: String,
    /// The one model the grant allows, by weights root.
    pub model: Root,
    /// The most new tokens one completion may ask for.
    pub max_tokens: u32,
    /// Unique per grant (decimal uint256), so two grants with equal terms differ.
    pub nonce: String,
    /// Unix seconds after which the grant is refused.
    pub expiry: u64,
    /// 65-byte secp256k1 signature over the EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// What a grant allows, checked against each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantTerms {
    /// The token.
    pub token: TokenId,
    /// The user, as the signature proves.
    pub user: Address,
    /// The model's weights root.
    pub model: Root,
    /// New tokens per completion, at most.
    pub max_tokens: u32,
}

impl SignedAccessGrant {
    fn typed(&self) -> Result<AccessGrant, RequestError> {
        let user = self
            .user
            .parse::<Address>()
            .map_err(|_| RequestError::Malformed("the grant's user is not a 0x address".into()))?;
        Ok(AccessGrant {
            tokenId: uint(&self.token_id, "the grant's token_id")?,
            user,
            model: B256::from(self.model.0),
            maxTokens: self.max_tokens,
            nonce: uint(&self.nonce, "the grant's nonce")?,
            expiry: self.expiry,
        })
    }

    /// A grant signed by `signer` for itself, under `domain`.
    pub fn sign(
        signer: &PrivateKeySigner,
        domain: &Eip712Domain,
        token: TokenId,
        model: Root,
        max_tokens: u32,
        nonce: U256,
        expiry: u64,
    ) -> Result<Self, RequestError> {
        let mut grant = Self {
            token_id: token.to_string(),
            user: signer.address().to_string(),
            model,
            max_tokens,
            nonce: nonce.to_string(),
            expiry,
            signature: String::new(),
        };
        let digest = grant.typed()?.eip712_signing_hash(domain);
        let sig = signer.sign_hash_sync(&digest).map_err(|e| RequestError::Signature(e.to_string()))?;
        grant.signature = format!("0x{}", hex::encode(sig.as_bytes()));
        Ok(grant)
    }

    /// The EIP-712 digest: what names this grant in receipts and logs.
    pub fn digest(&self, domain: &Eip712Domain) -> Result<B256, RequestError> {
        Ok(self.typed()?.eip712_signing_hash(domain))
    }

    /// The grant's terms, if its signature is its user's under `domain` and it is
    /// valid at `now` (ending no more than [`MAX_GRANT_SECS`] ahead).
    pub fn verify(&self, domain: &Eip712Domain, now: u64) -> Result<GrantTerms, RequestError> {
        within(self.expiry, now, MAX_GRANT_SECS)?;
        let typed = self.typed()?;
        let signer = recover(&self.signature, &typed.eip712_signing_hash(domain))?;
        if signer != typed.user {
            return Err(RequestError::Signature("the grant is not signed by the user it names".into()));
        }
        Ok(GrantTerms {
            token: TokenId::from(typed.tokenId),
            user: signer,
            model: self.model,
            max_tokens: self.max_tokens,
        })
    }

    /// The grant as an API key: [`API_KEY_PREFIX`] and the grant's JSON in
    /// unpadded base64url (no character a header or a shell would mangle).
    pub fn to_api_key(&self) -> String {
        // A struct of strings and numbers always serialises.
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{API_KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    }

    /// The grant an API key carries (not yet verified).
    pub fn from_api_key(key: &str) -> Result<Self, RequestError> {
        let bad = |why: &str| RequestError::Malformed(format!("the API key is not a Veil grant: {why}"));
        if key.len() > MAX_API_KEY_CHARS {
            return Err(bad("too long"));
        }
        let body = key.strip_prefix(API_KEY_PREFIX).ok_or_else(|| bad("no veil-grant-v1. prefix"))?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| bad("not base64url"))?;
        serde_json::from_slice(&json).map_err(|e| bad(&e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;
    use proptest::prelude::*;

    use super::*;
    use crate::{ErrorCode, domain};

    fn grant(user: &PrivateKeySigner, d: &Eip712Domain) -> SignedAccessGrant {
        SignedAccessGrant::sign(user, d, TokenId::from(7), Root([4; 32]), 256, U256::from(99), 5_000_000)
            .unwrap()
    }

    #[test]
    fn a_grant_speaks_for_its_user_only_in_its_domain_and_its_time() {
        let user = PrivateKeySigner::random();
        let d = domain(32273, Address::repeat_byte(1));
        let g = grant(&user, &d);
        let terms = g.verify(&d, 4_000_000).unwrap();
        assert_eq!(terms.user, user.address());
        assert_eq!((terms.token, terms.model, terms.max_tokens), (TokenId::from(7), Root([4; 32]), 256));
        for other in [domain(1, Address::repeat_byte(1)), domain(32273, Address::repeat_byte(2))] {
            assert_eq!(g.verify(&other, 4_000_000).unwrap_err().code(), ErrorCode::RequestBadSignature);
        }
        assert!(matches!(g.verify(&d, 5_000_001), Err(RequestError::Expired { .. })));
        assert!(matches!(g.verify(&d, 5_000_000 - MAX_GRANT_SECS - 1), Err(RequestError::TooFar { .. })));
        // Each term is signed: raising the token limit, moving to another token or
        // model, or claiming to be another user breaks the signature.
        let edits: [fn(&mut SignedAccessGrant); 5] = [
            |g| g.max_tokens = 4096,
            |g| g.token_id = "8".into(),
            |g| g.model = Root([5; 32]),
            |g| g.user = Address::repeat_byte(9).to_string(),
            |g| g.expiry += 1,
        ];
        for edit in edits {
            let mut changed = g.clone();
            edit(&mut changed);
            assert_ne!(changed, g);
            assert_eq!(changed.verify(&d, 4_000_000).unwrap_err().code(), ErrorCode::RequestBadSignature);
        }
        let mut bad = g.clone();
        bad.token_id = "007".into();
        assert_eq!(bad.verify(&d, 4_000_000).unwrap_err().code(), ErrorCode::RequestMalformed);
    }

    #[test]
    fn a_request_signature_is_not_a_grant_signature() {
        let user = PrivateKeySigner::random();
        let d = domain(32273, Address::repeat_byte(1));
        // The same numbers signed as an inference request.
        let req = crate::SignedRequest::sign(
            &user,
            &d,
            U256::from(7),
            Root([4; 32]),
            serde_json::json!({}),
            U256::from(99),
            5_000_000,
        )
        .unwrap();
        let mut g = grant(&user, &d);
        g.signature = req.signature;
        assert_eq!(g.verify(&d, 4_000_000).unwrap_err().code(), ErrorCode::RequestBadSignature);
    }

    #[test]
    fn api_keys_round_trip_and_garbage_is_refused() {
        let user = PrivateKeySigner::random();
        let d = domain(32273, Address::repeat_byte(1));
        let g = grant(&user, &d);
        let key = g.to_api_key();
        assert!(key.starts_with(API_KEY_PREFIX) && key.len() < 600, "{key}");
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "{key}");
        assert_eq!(SignedAccessGrant::from_api_key(&key).unwrap(), g);
        for bad in ["", "sk-abc", "veil-grant-v1.", "veil-grant-v1.!!", "veil-grant-v1.e30"] {
            assert_eq!(
                SignedAccessGrant::from_api_key(bad).unwrap_err().code(),
                ErrorCode::RequestMalformed,
                "{bad}"
            );
        }
        let long = format!("{API_KEY_PREFIX}{}", "A".repeat(MAX_API_KEY_CHARS));
        assert!(SignedAccessGrant::from_api_key(&long).is_err());
    }

    proptest! {
        /// Whatever a client sends as its key, decoding answers (and never panics).
        #[test]
        fn any_key_decodes_or_is_refused(key in ".{0,700}") {
            let _ = SignedAccessGrant::from_api_key(&key);
            let b64 = format!("{API_KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes()));
            let json_like = key.starts_with('{');
            prop_assert!(SignedAccessGrant::from_api_key(&b64).is_err() || json_like);
        }
    }
}
