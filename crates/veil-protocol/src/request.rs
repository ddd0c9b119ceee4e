//! What crosses between a user, the gateway and a worker.
//!
//! A user signs an [`InferenceRequest`] with their wallet (EIP-712, bound to the
//! chain and the INFT contract, with a nonce and an expiry). The gateway checks it and
//! forwards it untouched inside a [`JobRequest`]; the worker checks the signature
//! again, because it, not the gateway, vouches for whom the receipt says it ran.

use alloy::primitives::{Address, B256, Signature, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};
use veil_content::Root;

use crate::{ErrorCode, TokenId};

alloy::sol! {
    /// The typed data a user signs to ask for inference over a token's data.
    #[derive(Debug, PartialEq, Eq)]
    struct InferenceRequest {
        uint256 tokenId;
        bytes32 model;
        bytes32 inputHash;
        uint256 nonce;
        uint64 expiry;
    }
}

/// The EIP-712 domain name of inference requests.
pub const EIP712_NAME: &str = "Veil Inference";
/// The EIP-712 domain version.
pub const EIP712_VERSION: &str = "1";
/// The purpose a worker's attestation for users states in its runtime data.
pub const ATTESTATION_PURPOSE: &str = "worker/attestation";
/// The purpose a proof server's attestation states in its runtime data.
pub const PROVER_ATTESTATION_PURPOSE: &str = "prover/attestation";
/// The purpose a proof server's registration evidence states: the registering account
/// takes the nonce's place, the secp256k1 completion key is among its public keys.
pub const PROVER_REGISTRATION_PURPOSE: &str = "prover/registration";

/// What an attestation verifier's own evidence is for: its registration with the prover
/// registry, binding its statement-signing key (`public_keys["secp256k1"]`).
pub const ORACLE_ATTESTATION_PURPOSE: &str = "oracle/attestation";

/// Whether `nonce` is an acceptable attestation challenge: 16 to 128 characters of
/// `[A-Za-z0-9_-]` (long enough to be fresh, short and plain enough to bind).
pub fn is_challenge_nonce(nonce: &str) -> bool {
    (16..=128).contains(&nonce.len())
        && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// How far ahead a request's expiry may be; the gateway remembers nonces this long.
pub const MAX_EXPIRY_SECS: u64 = 600;
/// Most rows one job may read or carry.
pub const MAX_ROWS: usize = 4096;

/// The domain requests are signed under: this chain, this INFT contract.
pub fn domain(chain_id: u64, inft: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(EIP712_NAME.into()),
        Some(EIP712_VERSION.into()),
        Some(U256::from(chain_id)),
        Some(inft),
        None,
    )
}

/// `keccak256(JCS(input))`, what the signature commits to.
pub fn input_digest(input: &serde_json::Value) -> Result<B256, RequestError> {
    let canonical = veil_jcs::to_canonical_vec(input).map_err(|e| RequestError::Input(e.to_string()))?;
    Ok(keccak256(canonical))
}

/// Why a signed request is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// A field does not parse.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The input cannot be canonicalised.
    #[error("input cannot be canonicalised: {0}")]
    Input(String),
    /// The signature is not 65 bytes or recovers no address.
    #[error("bad signature: {0}")]
    Signature(String),
    /// The expiry has passed.
    #[error("request expired at {expiry} (now {now})")]
    Expired {
        /// When it expired (Unix seconds).
        expiry: u64,
        /// The verifier's time.
        now: u64,
    },
    /// The expiry is further out than a verifier remembers nonces.
    #[error("request expiry {expiry} is more than {max_secs} s ahead")]
    TooFar {
        /// The stated expiry.
        expiry: u64,
        /// The window.
        max_secs: u64,
    },
}

impl RequestError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Malformed(_) | Self::Input(_) => ErrorCode::RequestMalformed,
            Self::Signature(_) => ErrorCode::RequestBadSignature,
            Self::Expired { .. } => ErrorCode::RequestExpired,
            Self::TooFar { .. } => ErrorCode::RequestExpiryTooFar,
        }
    }
}

/// A signed request as it travels in JSON. What is signed names the model by its
/// weights root; a gateway also accepts a registered name in its place
/// (`SignedRequest<String>`) and resolves it before checking the signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest<M = Root> {
    /// The token (decimal uint256).
    pub token_id: String,
    /// The model's weights root (or, on the way to a gateway, its name).
    pub model: M,
    /// What to run on, e.g. `{"ids": ["P000001"]}` (rows of the token's data).
    pub input: serde_json::Value,
    /// Single-use per signer (decimal uint256).
    pub nonce: String,
    /// Unix seconds after which the request is refused.
    pub expiry: u64,
    /// 65-byte secp256k1 signature over the EIP-712 digest, 0x-hex.
    pub signature: String,
}

/// `s` as a canonical decimal uint256, or a refusal naming `what` it is.
pub(crate) fn uint(s: &str, what: &str) -> Result<U256, RequestError> {
    crate::token::parse_decimal_u256(s).ok_or_else(|| {
        RequestError::Malformed(format!(
            "{what} {:?} is not a decimal uint256",
            s.chars().take(90).collect::<String>()
        ))
    })
}

impl<M> SignedRequest<M> {
    /// The same request naming its model as `model`.
    pub fn with_model<N>(self, model: N) -> SignedRequest<N> {
        SignedRequest {
            token_id: self.token_id,
            model,
            input: self.input,
            nonce: self.nonce,
            expiry: self.expiry,
            signature: self.signature,
        }
    }

    /// The token id.
    pub fn token(&self) -> Result<TokenId, RequestError> {
        uint(&self.token_id, "token_id").map(TokenId::from)
    }
}

impl SignedRequest {
    /// The typed data this request claims to be.
    pub fn typed(&self) -> Result<InferenceRequest, RequestError> {
        Ok(InferenceRequest {
            tokenId: uint(&self.token_id, "token_id")?,
            model: B256::from(self.model.0),
            inputHash: input_digest(&self.input)?,
            nonce: uint(&self.nonce, "nonce")?,
            expiry: self.expiry,
        })
    }

    /// Sign a request as `signer`, under `domain`.
    pub fn sign(
        signer: &PrivateKeySigner,
        domain: &Eip712Domain,
        token_id: U256,
        model: Root,
        input: serde_json::Value,
        nonce: U256,
        expiry: u64,
    ) -> Result<Self, RequestError> {
        let mut req = Self {
            token_id: token_id.to_string(),
            model,
            input,
            nonce: nonce.to_string(),
            expiry,
            signature: String::new(),
        };
        let digest = req.typed()?.eip712_signing_hash(domain);
        let sig = signer.sign_hash_sync(&digest).map_err(|e| RequestError::Signature(e.to_string()))?;
        req.signature = format!("0x{}", hex::encode(sig.as_bytes()));
        Ok(req)
    }

    /// Who signed, if the signature is good and the request is within its validity
    /// at `now` (no more than `max_secs` ahead).
    pub fn verify(&self, domain: &Eip712Domain, now: u64, max_secs: u64) -> Result<Address, RequestError> {
        within(self.expiry, now, max_secs)?;
        recover(&self.signature, &self.typed()?.eip712_signing_hash(domain))
    }
}

/// Whether `expiry` is still ahead at `now`, and no more than `max_secs` ahead.
pub(crate) fn within(expiry: u64, now: u64, max_secs: u64) -> Result<(), RequestError> {
    if expiry < now {
        return Err(RequestError::Expired { expiry, now });
    }
    if expiry > now.saturating_add(max_secs) {
        return Err(RequestError::TooFar { expiry, max_secs });
    }
    Ok(())
}

/// Who made `signature` (65 bytes, 0x-hex) over `digest`.
pub(crate) fn recover(signature: &str, digest: &B256) -> Result<Address, RequestError> {
    let raw = signature
        .strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 65)
        .ok_or_else(|| RequestError::Signature("not 65 bytes of 0x-hex".into()))?;
    let sig = Signature::from_raw(&raw).map_err(|e| RequestError::Signature(e.to_string()))?;
    sig.recover_address_from_prehash(digest).map_err(|e| RequestError::Signature(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signed(signer: &PrivateKeySigner, d: &Eip712Domain, expiry: u64) -> SignedRequest {
        SignedRequest::sign(
            signer,
            d,
            U256::from(7),
            Root([9; 32]),
            json!({"ids": ["a", "b"]}),
            U256::from(42),
            expiry,
        )
        .unwrap()
    }

    #[test]
    fn the_signer_is_recovered_only_within_the_domain_and_the_window() {
        let user = PrivateKeySigner::random();
        let d = domain(32273, Address::repeat_byte(1));
        let req = signed(&user, &d, 1_000);
        assert_eq!(req.verify(&d, 900, MAX_EXPIRY_SECS), Ok(user.address()));
        // Another chain or contract: a valid signature, but by nobody we know.
        for other in [domain(1, Address::repeat_byte(1)), domain(32273, Address::repeat_byte(2))] {
            assert_ne!(req.verify(&other, 900, MAX_EXPIRY_SECS), Ok(user.address()));
        }
        // Any signed field changed: another signer.
        let mut changed = req.clone();
        changed.input = json!({"ids": ["a"]});
        assert_ne!(changed.verify(&d, 900, MAX_EXPIRY_SECS), Ok(user.address()));
        let mut changed = req.clone();
        changed.nonce = "43".into();
        assert_ne!(changed.verify(&d, 900, MAX_EXPIRY_SECS), Ok(user.address()));
        assert!(matches!(req.verify(&d, 1_001, MAX_EXPIRY_SECS), Err(RequestError::Expired { .. })));
        assert!(matches!(req.verify(&d, 1, MAX_EXPIRY_SECS), Err(RequestError::TooFar { .. })));
        let mut bad = req.clone();
        bad.signature = "0x00".into();
        assert_eq!(bad.verify(&d, 900, MAX_EXPIRY_SECS).unwrap_err().code(), ErrorCode::RequestBadSignature);
        for id in ["", "01", "-1", "1e3", &"9".repeat(79)] {
            let mut bad = req.clone();
            bad.token_id = id.into();
            assert_eq!(
                bad.verify(&d, 900, MAX_EXPIRY_SECS).unwrap_err().code(),
                ErrorCode::RequestMalformed,
                "{id:?}"
            );
        }
    }

    #[test]
    fn the_input_digest_is_canonical() {
        let a = input_digest(&serde_json::from_str(r#"{"ids":["x"],"k":1}"#).unwrap()).unwrap();
        let b = input_digest(&serde_json::from_str(r#"{ "k": 1, "ids": [ "x" ] }"#).unwrap()).unwrap();
        assert_eq!(a, b);
    }
}
