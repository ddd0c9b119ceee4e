//! The key-broker exchange, as both sides see it.
//!
//! Three calls, in the Confidential Containers Trustee shape: `POST
//! /v1/kms/challenge` answers a [`Challenge`]; `POST /v1/kms/attest` takes an
//! [`AttestRequest`] whose evidence carries that nonce and the enclave's keys, and
//! answers a [`SessionGrant`]; `POST /v1/kms/resource` takes a [`ResourceRequest`]
//! and answers a [`SealedResource`] sealed to the attested key. `GET
//! /v1/kms/tokens/{id}/public-key` answers the [`TokenKey`] a token's data is sealed
//! to; `GET /v1/kms/identity` the broker's [`BrokerIdentity`].
//!
//! For a token's key the enclave forwards the user's signed request, and the broker
//! verifies it itself: an enclave's word for the user is not enough. Every release is
//! signed by the broker ([`grant_message`]) over the recipient's key, so an enclave
//! whose configuration names the broker's key takes keys from that broker only.

use serde::{Deserialize, Serialize};
use veil_content::Root;
use veil_evidence::{AttestationError, Evidence, Tee};

use crate::{ErrorCode, SignedRequest, TokenId};

/// The purpose an enclave must state in its runtime data to receive keys.
pub const KEY_RELEASE_PURPOSE: &str = "kms/key-release";
/// Resources named `token/<id>` are a token's data keys: the ledger must authorize
/// the user they are released for.
pub const TOKEN_RESOURCE_PREFIX: &str = "token/";

/// The resource name of token `id`'s data key.
pub fn token_resource(id: TokenId) -> String {
    format!("{TOKEN_RESOURCE_PREFIX}{id}")
}

/// The resource prefix of a sealed model's key.
pub const MODEL_RESOURCE_PREFIX: &str = "model/";

/// The key-broker resource whose key opens the sealed model with weights root `root`.
pub fn model_resource(root: &veil_content::Root) -> String {
    format!("{MODEL_RESOURCE_PREFIX}{root}")
}

/// A challenge handed to an enclave: it must put `nonce` in its runtime data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 random bytes, hex.
    pub nonce: String,
    /// Unix time after which the nonce is refused.
    pub expires_at: u64,
}

/// `POST /v1/kms/attest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestRequest {
    /// The evidence, its runtime data carrying the challenge nonce.
    pub evidence: Evidence,
}

/// An attested enclave's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGrant {
    /// Bearer token for resource requests (32 random bytes, hex).
    pub session: String,
    /// Unix time after which the session is refused.
    pub expires_at: u64,
    /// The TEE that attested.
    pub tee: Tee,
    /// Its primary measurement (hex).
    pub measurement: String,
    /// True when the evidence chained to a development root.
    pub dev_root: bool,
}

/// `POST /v1/kms/resource`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRequest {
    /// The session from `attest`.
    pub session: String,
    /// The resource (e.g. `token/42`).
    pub resource: String,
    /// For a token's key: the user's signed request for that token, which the broker
    /// verifies under its own deployment's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<SignedRequest>,
    /// Or the user's access grant for that token (chats from stock clients), which
    /// the broker verifies the same way. At most one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<crate::SignedAccessGrant>,
}

impl ResourceRequest {
    /// The user's proof this request carries: a signed request, a grant, or neither
    /// (both at once is malformed: which user would the key be for?).
    pub fn proof(&self) -> Result<Option<UserProof<'_>>, crate::RequestError> {
        match (&self.request, &self.grant) {
            (Some(r), None) => Ok(Some(UserProof::Request(r))),
            (None, Some(g)) => Ok(Some(UserProof::Grant(g))),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => {
                Err(crate::RequestError::Malformed("send a signed request or a grant, not both".into()))
            }
        }
    }
}

/// What proves, to the broker, which user a token's key is released for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UserProof<'a> {
    /// The user's signed request (one request, single-use nonce).
    Request(&'a SignedRequest),
    /// The user's access grant (a standing permission a stock client carries).
    Grant(&'a crate::SignedAccessGrant),
}

impl<'a> From<&'a SignedRequest> for UserProof<'a> {
    fn from(r: &'a SignedRequest) -> Self {
        Self::Request(r)
    }
}

impl<'a> From<&'a crate::SignedAccessGrant> for UserProof<'a> {
    fn from(g: &'a crate::SignedAccessGrant) -> Self {
        Self::Grant(g)
    }
}

impl UserProof<'_> {
    /// The user and the token, if the proof verifies under `domain` at `now`.
    pub fn verify(
        &self,
        domain: &alloy::sol_types::Eip712Domain,
        now: u64,
    ) -> Result<(alloy::primitives::Address, TokenId), crate::RequestError> {
        match self {
            Self::Request(r) => Ok((r.verify(domain, now, crate::MAX_EXPIRY_SECS)?, r.token()?)),
            Self::Grant(g) => g.verify(domain, now).map(|t| (t.user, t.token)),
        }
    }

    /// As the key-broker request carries it.
    pub fn into_request(self, session: &str, resource: &str) -> ResourceRequest {
        let (request, grant) = match self {
            Self::Request(r) => (Some(r.clone()), None),
            Self::Grant(g) => (None, Some(g.clone())),
        };
        ResourceRequest { session: session.to_owned(), resource: resource.to_owned(), request, grant }
    }
}

/// A released key, sealed to the enclave's attested HPKE key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedResource {
    /// The resource name.
    pub resource: String,
    /// The 32-byte key as a Veil sealed blob to the enclave's key, base64.
    pub sealed_key: String,
    /// Where the user's authorization was read (token resources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationRecord>,
    /// True when the enclave attested under a development root.
    pub dev_root: bool,
    /// The audit-log entry that records this release (`LEN:sha256:HEX`, the log's
    /// head just after it), so a receipt can name the decision.
    #[serde(default)]
    pub decision: String,
    /// The broker's Ed25519 signature over [`grant_message`], hex.
    #[serde(default)]
    pub signature: String,
}

/// The domain tag of a broker's signature over a release.
pub const GRANT_DOMAIN: &[u8] = b"veil/kms/grant/v1\0";

/// What a broker signs for `grant`: [`GRANT_DOMAIN`], then the JCS form of the grant
/// (without its signature) together with `recipient`, the enclave key the key is
/// sealed to — so a release for one enclave cannot be handed to another.
pub fn grant_message(grant: &SealedResource, recipient: &str) -> Result<Vec<u8>, veil_jcs::JcsError> {
    let mut unsigned = grant.clone();
    unsigned.signature = String::new();
    let doc = serde_json::json!({ "grant": unsigned, "recipient": recipient });
    Ok([GRANT_DOMAIN, &veil_jcs::to_canonical_vec(&doc)?].concat())
}

/// `GET /v1/kms/identity`: the key a broker signs releases with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerIdentity {
    /// Ed25519 public key, hex.
    pub ed25519: String,
}

/// The authorization a release relied on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRecord {
    /// The user the key was released for.
    pub user: String,
    /// Where `isAuthorized` was read.
    pub source: String,
    /// At which block, for a chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// The chain, when the answer came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainRef>,
    /// The token's data roots, read at the same block: the worker opens these, not
    /// whatever root the gateway named.
    #[serde(default)]
    pub data: Vec<Root>,
}

/// A chain and the INFT contract on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRef {
    /// `eth_chainId`.
    pub chain_id: u64,
    /// The INFT contract's address (0x-hex).
    pub contract: String,
}

impl ChainRef {
    /// The EIP-712 domain users sign requests under on this deployment; `None` when
    /// the contract is not an address.
    pub fn domain(&self) -> Option<alloy::sol_types::Eip712Domain> {
        let inft: alloy::primitives::Address = self.contract.parse().ok()?;
        Some(crate::domain(self.chain_id, inft))
    }
}

/// `GET /v1/kms/tokens/{id}/public-key` and `GET /v1/kms/models/{root}/public-key`: the
/// key a resource's data (a token's records, a model sealed at rest) is sealed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenKey {
    /// `token/<id>` or `model/<root>`.
    pub resource: String,
    /// The `veilpk1…` key the resource's data is sealed to.
    pub public_key: String,
}

impl From<&AttestationError> for ErrorCode {
    fn from(e: &AttestationError) -> Self {
        match e {
            AttestationError::Parse(_) => Self::AttestationParse,
            AttestationError::Signature(_) => Self::AttestationSignature,
            AttestationError::Chain(_) => Self::AttestationChain,
            AttestationError::Revoked(_) => Self::AttestationRevoked,
            AttestationError::CollateralExpired(_) => Self::AttestationCollateralExpired,
            AttestationError::TcbStatus { .. } => Self::AttestationTcbStatus,
            AttestationError::Debug => Self::AttestationDebug,
            AttestationError::Measurement(_) => Self::AttestationMeasurement,
            AttestationError::Binding(_) => Self::AttestationBinding,
            AttestationError::Replay => Self::AttestationReplay,
            AttestationError::Policy(_) => Self::AttestationPolicy,
            AttestationError::EventLog(_) => Self::AttestationEventLog,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attestation_errors_keep_their_codes() {
        let all = [
            AttestationError::Parse(String::new()),
            AttestationError::Signature(String::new()),
            AttestationError::Chain(String::new()),
            AttestationError::Revoked(String::new()),
            AttestationError::CollateralExpired(String::new()),
            AttestationError::Debug,
            AttestationError::Measurement(String::new()),
            AttestationError::Binding(String::new()),
            AttestationError::Replay,
            AttestationError::Policy(String::new()),
            AttestationError::EventLog(String::new()),
        ];
        for e in &all {
            assert_eq!(ErrorCode::from(e).as_str(), e.code());
        }
    }
}
