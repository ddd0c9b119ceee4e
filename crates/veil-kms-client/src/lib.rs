//! The enclave's side of the key broker: answer a challenge with evidence that
//! binds the enclave's keys, open a session, and fetch keys sealed to it.
//!
//! The exchange's types are `veil_protocol::kms`; the broker's decisions live in
//! `veil-kms` and its server in `veil-kms-http`, neither of which an enclave links.
#![forbid(unsafe_code)]

use base64::Engine as _;
use serde::de::DeserializeOwned;
use veil_attester::Attester;
use veil_evidence::Evidence;
use veil_protocol::kms::{
    AttestRequest, BrokerIdentity, Challenge, KEY_RELEASE_PURPOSE, ResourceRequest, SealedResource,
    SessionGrant, TokenKey, UserProof, grant_message,
};
use veil_protocol::{ErrorCode, Problem, TokenId};
use veil_seal::Identity;
use zeroize::Zeroizing;

/// Why a call to the broker failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker refused, with its problem document.
    #[error("{} ({})", .0.detail, .0.code)]
    Refused(Problem),
    /// The broker could not be reached or answered something that is not the protocol.
    #[error("key broker at {url}: {reason}")]
    Transport {
        /// The URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The enclave could not produce evidence.
    #[error(transparent)]
    Attester(#[from] veil_attester::AttesterError),
    /// The released key could not be opened with the enclave's key.
    #[error("released key does not open: {0}")]
    Open(String),
    /// A release not signed by the broker this enclave trusts, or not for this enclave.
    #[error("the release is not signed by the trusted key broker: {0}")]
    Forged(String),
}

impl ClientError {
    /// The broker's stable code, when it refused.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Refused(p) => Some(&p.code),
            _ => None,
        }
    }
}

/// A client of one broker.
#[derive(Debug, Clone)]
pub struct KmsClient {
    base: String,
    http: reqwest::Client,
}

impl KmsClient {
    /// A client of the broker at `base` (e.g. `http://127.0.0.1:7443`).
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into().trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        answer(&url, self.http.post(&url).json(body).send().await).await
    }

    /// The key token `token_id`'s data is sealed to (no attestation needed: it is
    /// public).
    pub async fn token_public_key(&self, token_id: TokenId) -> Result<veil_seal::PublicKey, ClientError> {
        let url = format!("{}/v1/kms/tokens/{token_id}/public-key", self.base);
        let key: TokenKey = answer(&url, self.http.get(&url).send().await).await?;
        key.public_key.parse().map_err(|_| ClientError::Transport {
            url,
            reason: "the broker's public key does not parse".into(),
        })
    }

    /// The key a model is sealed to at rest (public, like a token's).
    pub async fn model_public_key(
        &self,
        root: &veil_content::Root,
    ) -> Result<veil_seal::PublicKey, ClientError> {
        let url = format!("{}/v1/kms/models/{root}/public-key", self.base);
        let key: TokenKey = answer(&url, self.http.get(&url).send().await).await?;
        key.public_key.parse().map_err(|_| ClientError::Transport {
            url,
            reason: "the broker's public key does not parse".into(),
        })
    }

    /// The identity a released token key is: it opens data sealed to
    /// [`KmsClient::token_public_key`].
    pub fn open_token_identity(
        identity: &Identity,
        released: &SealedResource,
    ) -> Result<Identity, ClientError> {
        let seed = Self::open_key(identity, released)?;
        Ok(Identity::from_seed(&seed))
    }

    /// A fresh challenge.
    pub async fn challenge(&self) -> Result<Challenge, ClientError> {
        self.post("/v1/kms/challenge", &serde_json::json!({})).await
    }

    /// Present evidence; on success, a session.
    pub async fn attest(&self, evidence: Evidence) -> Result<SessionGrant, ClientError> {
        self.post("/v1/kms/attest", &AttestRequest { evidence }).await
    }

    /// Ask for a resource within a session: for a token's key, on behalf of the user
    /// whose signed request or grant (`proof`) it forwards.
    pub async fn resource(
        &self,
        session: &str,
        resource: &str,
        proof: Option<UserProof<'_>>,
    ) -> Result<SealedResource, ClientError> {
        let req = match proof {
            Some(p) => p.into_request(session, resource),
            None => ResourceRequest {
                session: session.to_owned(),
                resource: resource.to_owned(),
                request: None,
                grant: None,
            },
        };
        self.post("/v1/kms/resource", &req).await
    }

    /// The key the broker signs releases with (to put in an enclave's configuration;
    /// an enclave never learns it this way at run time).
    pub async fn identity(&self) -> Result<BrokerIdentity, ClientError> {
        let url = format!("{}/v1/kms/identity", self.base);
        answer(&url, self.http.get(&url).send().await).await
    }

    /// Challenge, attest with `attester` binding `identity`'s keys, and open a session.
    pub async fn open_session(
        &self,
        attester: &dyn Attester,
        identity: &Identity,
    ) -> Result<SessionGrant, ClientError> {
        let challenge = self.challenge().await?;
        let evidence = evidence_for(attester, identity, &challenge.nonce)?;
        self.attest(evidence).await
    }

    /// Open the key a resource call released, with the enclave's identity.
    pub fn open_key(
        identity: &Identity,
        released: &SealedResource,
    ) -> Result<Zeroizing<[u8; 32]>, ClientError> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&released.sealed_key)
            .map_err(|e| ClientError::Open(e.to_string()))?;
        let mut plain = Zeroizing::new(Vec::with_capacity(32));
        veil_seal::open(sealed.as_slice(), &mut *plain, identity)
            .map_err(|e| ClientError::Open(e.to_string()))?;
        let key: [u8; 32] =
            plain.as_slice().try_into().map_err(|_| ClientError::Open("not a 32-byte key".into()))?;
        Ok(Zeroizing::new(key))
    }
}

/// Check that `released` was signed by the broker whose Ed25519 key is `broker` (hex)
/// for the enclave key `recipient`: a host that answers in the broker's place, or
/// hands this enclave another enclave's release, is refused.
pub fn verify_grant(
    released: &SealedResource,
    broker: &str,
    recipient: &veil_seal::PublicKey,
) -> Result<(), ClientError> {
    let forged = |m: &str| ClientError::Forged(m.to_owned());
    let key: [u8; 32] = hex::decode(broker)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| forged("the configured broker key is not 32 bytes of hex"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| forged("the configured broker key is not a key"))?;
    let sig: [u8; 64] = hex::decode(&released.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| forged("no signature"))?;
    let message = grant_message(released, &recipient.to_string()).map_err(|e| forged(&e.to_string()))?;
    key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| forged("the signature does not verify"))
}

/// A broker answer: the JSON body on success, its problem document on refusal.
async fn answer<T: DeserializeOwned>(
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, ClientError> {
    veil_http::answer(sent).await.map_err(|e| match e {
        veil_http::CallError::Refused(p) => ClientError::Refused(p),
        veil_http::CallError::Transport(reason) => ClientError::Transport { url: url.to_owned(), reason },
    })
}

/// Evidence from `attester` binding `identity`'s keys and `nonce` for a key release.
pub fn evidence_for(
    attester: &dyn Attester,
    identity: &Identity,
    nonce: &str,
) -> Result<Evidence, ClientError> {
    release_evidence(attester, identity, nonce, None)
}

/// [`evidence_for`], stating that it was made at `now` (Unix seconds): what an enclave
/// whose receipts name this evidence uses, so their time is bounded by it.
pub fn evidence_for_at(
    attester: &dyn Attester,
    identity: &Identity,
    nonce: &str,
    now: u64,
) -> Result<Evidence, ClientError> {
    release_evidence(attester, identity, nonce, Some(now))
}

fn release_evidence(
    attester: &dyn Attester,
    identity: &Identity,
    nonce: &str,
    issued_at: Option<u64>,
) -> Result<Evidence, ClientError> {
    let evidence =
        veil_attester::evidence_with_purpose(attester, identity, nonce, KEY_RELEASE_PURPOSE, issued_at)?;
    Ok(evidence)
}
