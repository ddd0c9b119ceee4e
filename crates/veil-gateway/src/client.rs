//! The user's side: sign a request with a wallet key and send it.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use serde::Deserialize;
use serde_json::Value;
use veil_content::Root;
use veil_protocol::{AttestationResponse, JobResponse, SignedRequest, domain};
use veil_protocol::{ErrorCode, Problem};

use crate::InferBody;

/// Why a call to the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The gateway refused, with its problem document.
    #[error("{0}")]
    Refused(Problem),
    /// The gateway could not be reached or answered outside the protocol.
    #[error("gateway at {url}: {reason}")]
    Transport {
        /// The URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The request could not be signed.
    #[error("signing: {0}")]
    Sign(String),
}

impl ClientError {
    /// The gateway's stable code, when it refused.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Refused(p) => Some(&p.code),
            _ => None,
        }
    }
}

/// The EIP-712 domain and models a gateway announces.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    /// Served models.
    pub models: Vec<CatalogModel>,
    /// The signing domain.
    pub signing: SigningDomain,
}

/// One served model.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogModel {
    /// Name.
    pub name: String,
    /// Weights root.
    pub root: Root,
    /// Features per row.
    pub features: usize,
}

/// Where requests are signed.
#[derive(Debug, Clone, Deserialize)]
pub struct SigningDomain {
    /// Chain id.
    pub chain_id: u64,
    /// The INFT contract.
    pub verifying_contract: Address,
    /// The longest expiry accepted.
    pub max_expiry_secs: u64,
}

/// A client of one gateway.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    base: String,
    http: reqwest::Client,
}

impl GatewayClient {
    /// A client of the gateway at `base`.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().no_proxy().build().unwrap_or_default(),
        }
    }

    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, ClientError> {
        veil_http::answer(sent).await.map_err(|e| match e {
            veil_http::CallError::Refused(p) => ClientError::Refused(p),
            veil_http::CallError::Transport(reason) => ClientError::Transport { url: url.to_owned(), reason },
        })
    }

    /// Models and the signing domain.
    pub async fn catalog(&self) -> Result<Catalog, ClientError> {
        let url = format!("{}/v1/models", self.base);
        self.answer(&url, self.http.get(&url).send().await).await
    }

    /// Sign a request for `model` (name or root) on `token` over `input`, valid for
    /// `ttl_secs`, with a random nonce.
    pub async fn sign(
        &self,
        signer: &PrivateKeySigner,
        token: U256,
        model: &str,
        input: Value,
        ttl_secs: u64,
        now: u64,
    ) -> Result<InferBody, ClientError> {
        let catalog = self.catalog().await?;
        let m = catalog
            .models
            .iter()
            .find(|m| m.name == model || m.root.to_string() == model)
            .ok_or_else(|| ClientError::Sign(format!("the gateway serves no model {model:?}")))?;
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(|e| ClientError::Sign(e.to_string()))?;
        let d = domain(catalog.signing.chain_id, catalog.signing.verifying_contract);
        let req = SignedRequest::sign(
            signer,
            &d,
            token,
            m.root,
            input,
            U256::from_be_bytes(nonce),
            now + ttl_secs.min(catalog.signing.max_expiry_secs),
        )
        .map_err(|e| ClientError::Sign(e.to_string()))?;
        Ok(req.with_model(m.root.to_string()))
    }

    /// Send a signed request.
    pub async fn infer(&self, body: &InferBody) -> Result<JobResponse, ClientError> {
        self.infer_timed(body).await.map(|(a, _)| a)
    }

    /// Send a signed request; also the `Server-Timing` stages (gateway and worker).
    pub async fn infer_timed(&self, body: &InferBody) -> Result<(JobResponse, Option<String>), ClientError> {
        let url = format!("{}/v1/infer", self.base);
        let sent = self.http.post(&url).json(body).send().await;
        let timing = sent
            .as_ref()
            .ok()
            .and_then(|r| r.headers().get("server-timing").and_then(|v| v.to_str().ok()).map(str::to_owned));
        Ok((self.answer(&url, sent).await?, timing))
    }

    /// Fresh evidence for `nonce`.
    pub async fn attestation(&self, nonce: &str) -> Result<AttestationResponse, ClientError> {
        let url = format!("{}/v1/attestation?nonce={nonce}", self.base);
        self.answer(&url, self.http.get(&url).send().await).await
    }
}
