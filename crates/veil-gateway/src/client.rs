//! The user's side: sign a request with a wallet key and send it.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use serde::Deserialize;
use serde_json::Value;
use veil_content::Root;
use veil_protocol::{
    AttestationResponse, ChatInput, JobResponse, SignedAccessGrant, SignedRequest, TokenId, domain,
};
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

/// An OpenAI-shaped error (`{"error": {message, code}}`) as a refusal.
fn openai_refusal(status: u16, body: &Value) -> ClientError {
    let e = &body["error"];
    let code = ErrorCode::parse(e["code"].as_str().unwrap_or("inference.internal"));
    let message = e["message"].as_str().unwrap_or("(no message)");
    let status = http_status(status);
    ClientError::Refused(Problem::new(status, code, message))
}

fn http_status(status: u16) -> reqwest::StatusCode {
    reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR)
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

    /// Submit a private-ML inference for `model` (name or root): the accepted job.
    pub async fn ml_inference(
        &self,
        model: &str,
        body: &veil_protocol::MlInferenceRequest,
    ) -> Result<veil_protocol::MlJob, ClientError> {
        let url = format!("{}/v1/ml/models/{model}/inference", self.base);
        self.answer(&url, self.http.post(&url).json(body).send().await).await
    }

    /// A private-ML job, once it settles or `wait_ms` (at most a minute) has passed.
    pub async fn ml_job(&self, id: &str, wait_ms: u64) -> Result<veil_protocol::MlJob, ClientError> {
        let url = format!("{}/v1/ml/jobs/{id}?wait_ms={wait_ms}", self.base);
        self.answer(&url, self.http.get(&url).send().await).await
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

    /// The served model named `model` (name or root), or, when `model` is `None`, the
    /// one language model served (features = 0).
    pub async fn find_model(&self, model: Option<&str>) -> Result<(Catalog, CatalogModel), ClientError> {
        let catalog = self.catalog().await?;
        let found = match model {
            Some(model) => catalog.models.iter().find(|m| m.name == model || m.root.to_string() == model),
            None => match catalog.models.iter().filter(|m| m.features == 0).collect::<Vec<_>>()[..] {
                [one] => Some(one),
                _ => None,
            },
        };
        let m = found.cloned().ok_or_else(|| {
            ClientError::Sign(match model {
                Some(model) => format!("the gateway serves no model {model:?}"),
                None => "the gateway does not serve exactly one language model: name one".into(),
            })
        })?;
        Ok((catalog, m))
    }

    /// An access grant (the API key of OpenAI and Ollama clients) by `signer` for
    /// `token` and `model`, allowing `max_tokens` per completion, for `ttl_secs`.
    pub async fn grant(
        &self,
        signer: &PrivateKeySigner,
        token: TokenId,
        model: Option<&str>,
        max_tokens: u32,
        ttl_secs: u64,
        now: u64,
    ) -> Result<(SignedAccessGrant, CatalogModel), ClientError> {
        let (catalog, m) = self.find_model(model).await?;
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(|e| ClientError::Sign(e.to_string()))?;
        let d = domain(catalog.signing.chain_id, catalog.signing.verifying_contract);
        let ttl = ttl_secs.min(veil_protocol::MAX_GRANT_SECS);
        let grant = SignedAccessGrant::sign(
            signer,
            &d,
            token,
            m.root,
            max_tokens,
            U256::from_be_bytes(nonce),
            now + ttl,
        )
        .map_err(|e| ClientError::Sign(e.to_string()))?;
        Ok((grant, m))
    }

    /// A streamed chat completion (`POST /v1/chat/completions`, as OpenAI clients
    /// send it) with `api_key`: `on_delta` gets the text as it comes; the answer is
    /// the whole text and the id of its receipt.
    pub async fn chat_stream(
        &self,
        api_key: &str,
        model: &str,
        input: &ChatInput,
        mut on_delta: impl FnMut(&str),
    ) -> Result<(String, String), ClientError> {
        let url = format!("{}/v1/chat/completions", self.base);
        let transport = |reason: String| ClientError::Transport { url: url.clone(), reason };
        let mut body = serde_json::to_value(input).map_err(|e| ClientError::Sign(e.to_string()))?;
        body["model"] = model.into();
        body["stream"] = true.into();
        let mut resp = self
            .http
            .post(&url)
            .bearer_auth(api_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        if status >= 400 {
            let body: Value = resp.json().await.map_err(|e| transport(e.to_string()))?;
            return Err(openai_refusal(status, &body));
        }
        let (mut buf, mut text, mut receipt) = (Vec::new(), String::new(), None);
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(e.to_string()))? {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = buf.drain(..end + 2).collect();
                let event = String::from_utf8_lossy(&event);
                for data in event.lines().filter_map(|l| l.strip_prefix("data: ")) {
                    if data == "[DONE]" {
                        return receipt.map(|id| (text, id)).ok_or_else(|| transport("no receipt id".into()));
                    }
                    let v: Value = serde_json::from_str(data).map_err(|e| transport(e.to_string()))?;
                    if v.get("error").is_some() {
                        return Err(openai_refusal(500, &v));
                    }
                    if let Some(piece) = v["choices"][0]["delta"]["content"].as_str() {
                        text.push_str(piece);
                        on_delta(piece);
                    }
                    if let Some(id) = v["veil_receipt"].as_str() {
                        receipt = Some(id.to_owned());
                    }
                }
            }
        }
        Err(transport("the stream ended before [DONE]".into()))
    }

    /// The receipt kept under `id`.
    pub async fn receipt(&self, id: &str) -> Result<veil_receipt::SignedReceipt, ClientError> {
        let url = format!("{}/v1/receipts/{id}", self.base);
        self.answer(&url, self.http.get(&url).send().await).await
    }

    /// The kept receipt's inclusion in the transparency log.
    pub async fn inclusion(&self, id: &str) -> Result<veil_protocol::Inclusion, ClientError> {
        let url = format!("{}/v1/receipts/{id}/inclusion", self.base);
        self.answer(&url, self.http.get(&url).send().await).await
    }

    /// Fresh evidence for `nonce`.
    pub async fn attestation(&self, nonce: &str) -> Result<AttestationResponse, ClientError> {
        let url = format!("{}/v1/attestation?nonce={nonce}", self.base);
        self.answer(&url, self.http.get(&url).send().await).await
    }
}
