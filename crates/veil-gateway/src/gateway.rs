//! Routes and their handlers.

use std::sync::Arc;
use std::time::Instant;

use alloy::providers::DynProvider;
use alloy::sol_types::Eip712Domain;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use veil_content::Root;
use veil_http::{ApiJson, HttpProblem};
use veil_ledger::ChainClient;
use veil_model::RegisteredModel;
use veil_protocol::MAX_EXPIRY_SECS;
use veil_protocol::{ChatInput, JobRequest, JobResponse, SignedAccessGrant, SignedRequest, domain};

use crate::GatewayError;
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::replay::Replay;

/// A signed inference request body: `model` may be a registered name or a root (the
/// signature covers the root).
pub type InferBody = SignedRequest<String>;

/// What a gateway is built from.
pub struct GatewayParts {
    /// The ledger (reads only).
    pub ledger: ChainClient<DynProvider>,
    /// The workers.
    pub pool: Arc<Pool>,
    /// The models workers serve.
    pub models: Vec<RegisteredModel>,
    /// Used nonces.
    pub replay: Replay,
    /// Where receipts are kept, one file per id.
    pub receipts: crate::db::Receipts,
    /// How long, and how many, receipts are kept for `GET /v1/receipts/{id}`.
    pub retention: Retention,
    /// Unix seconds.
    pub clock: fn() -> u64,
    /// Costly private-ML requests one client may make per second.
    pub ml_per_second: u32,
    /// What `POST /v1/ml/proofs/{id}/verify` checks kept receipts under: the roots
    /// and measurements this deployment's workers are admitted with.
    pub trust: veil_verify::Trust,
    /// The transparency log every kept receipt is submitted to before it is
    /// answered with; none for a gateway that runs without one.
    pub log: Option<veil_tlog_http::LogClient>,
    /// The serving marketplace this gateway is a provider of, if any.
    pub market: Option<crate::Market>,
}

/// How long the gateway keeps receipts for `GET /v1/receipts/{id}`. Users of token
/// inference get theirs in the answer; anonymous KServe callers get an id to fetch, so
/// without a bound every anonymous call would cost disk forever.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Receipts older than this (by file time) are dropped.
    pub max_age_secs: u64,
    /// Beyond this many, the oldest are dropped.
    pub max_count: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self { max_age_secs: 7 * 24 * 3600, max_count: 100_000 }
    }
}

/// Receipts kept between two prunings of the directory.
const PRUNE_EVERY: u64 = 256;

/// The gateway's state.
pub struct Gateway {
    ledger: ChainClient<DynProvider>,
    pool: Arc<Pool>,
    models: Vec<RegisteredModel>,
    replay: Replay,
    receipts: crate::db::Receipts,
    retention: Retention,
    kept: std::sync::atomic::AtomicU64,
    clock: fn() -> u64,
    domain: Eip712Domain,
    metrics: Metrics,
    ml_jobs: crate::ml::MlJobs,
    ml_limit: veil_http::limit::RateLimit,
    trust: veil_verify::Trust,
    log: Option<veil_tlog_http::LogClient>,
    market: Option<crate::Market>,
}

impl Gateway {
    /// A gateway over `parts`.
    pub fn new(parts: GatewayParts) -> Self {
        let domain = domain(parts.ledger.chain_id(), parts.ledger.deployment().inft);
        Self {
            ledger: parts.ledger,
            pool: parts.pool,
            models: parts.models,
            replay: parts.replay,
            receipts: parts.receipts,
            retention: parts.retention,
            kept: std::sync::atomic::AtomicU64::new(0),
            clock: parts.clock,
            domain,
            metrics: Metrics::default(),
            ml_jobs: Default::default(),
            ml_limit: veil_http::limit::RateLimit::new(parts.ml_per_second),
            trust: parts.trust,
            log: parts.log,
            market: parts.market,
        }
    }

    pub(crate) fn model(&self, name_or_root: &str) -> Result<&RegisteredModel, GatewayError> {
        self.models
            .iter()
            .find(|m| m.meta.name == name_or_root || m.root.to_string() == name_or_root)
            .ok_or_else(|| GatewayError::ModelUnknown(name_or_root.chars().take(80).collect()))
    }

    async fn infer(&self, body: InferBody) -> Result<(JobResponse, String), GatewayError> {
        let started = Instant::now();
        let model = self.model(&body.model)?.root;
        let request = body.with_model(model);
        let now = (self.clock)();
        let signer = request.verify(&self.domain, now, MAX_EXPIRY_SECS)?;
        let token = request.token()?;
        self.replay.check_and_record(&signer.to_string(), &request.nonce, request.expiry, now).await?;
        let checked = started.elapsed();
        let job = JobRequest::Token { request, data_root: self.data_root(token).await? };
        let looked_up = started.elapsed();
        let (answer, worker_timing) = self.pool.dispatch(&job).await?;
        let dispatched = started.elapsed();
        self.keep(&answer.receipt).await?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let mut timing = format!(
            "gw_check;dur={:.3}, gw_ledger;dur={:.3}, gw_worker;dur={:.3}, gw_keep;dur={:.3}",
            ms(checked),
            ms(looked_up - checked),
            ms(dispatched - looked_up),
            ms(started.elapsed() - dispatched)
        );
        if let Some(w) = worker_timing {
            timing.push_str(", ");
            timing.push_str(&w);
        }
        Ok((answer, timing))
    }

    /// The token's first data root, as the ledger names it now (the worker uses the
    /// one the broker reads at its recorded block).
    pub(crate) async fn data_root(&self, token: veil_protocol::TokenId) -> Result<Root, GatewayError> {
        let data = self.ledger.intelligent_data(token.value()).await.map_err(|e| {
            if e.is_nonexistent_token() {
                GatewayError::TokenUnknown { token, reason: "does not exist" }
            } else {
                GatewayError::Ledger(e.to_string())
            }
        })?;
        let first = data.first().ok_or(GatewayError::TokenUnknown { token, reason: "has no data" })?;
        Ok(Root(first.data_hash.0))
    }

    /// The job for a chat by the bearer of `api_key` (an encoded access grant): the
    /// grant must verify under this deployment's domain now and allow `model` and the
    /// requested tokens. The worker and the broker check all of it again; checking here
    /// refuses early, without a queue place.
    pub(crate) async fn chat_job(
        &self,
        api_key: Option<&str>,
        model: &str,
        input: ChatInput,
        stream: bool,
    ) -> Result<(JobRequest, &RegisteredModel), GatewayError> {
        let key = api_key.ok_or_else(|| {
            GatewayError::Unauthenticated(
                "send an API key (`Authorization: Bearer veil-grant-v1...`; `veil grant` makes one)".into(),
            )
        })?;
        if key.starts_with("app-sk-") {
            let market = self.market.as_ref().ok_or(GatewayError::MarketDisabled)?;
            let m = self.model(model)?;
            return Ok((market.job(self, key, m.root, input, stream).await?, m));
        }
        let grant =
            SignedAccessGrant::from_api_key(key).map_err(|e| GatewayError::Unauthenticated(e.to_string()))?;
        let terms = grant.verify(&self.domain, (self.clock)())?;
        let m = self.model(model)?;
        if m.root != terms.model {
            return Err(GatewayError::GrantLimit(format!(
                "this API key allows model {}, not {}",
                terms.model, m.meta.name
            )));
        }
        input.check().map_err(GatewayError::Malformed)?;
        if let Some(n) = input.max_tokens.filter(|n| *n > terms.max_tokens) {
            return Err(GatewayError::GrantLimit(format!(
                "this API key allows at most {} new tokens per completion, not {n}",
                terms.max_tokens
            )));
        }
        let data_root = self.data_root(terms.token).await?;
        Ok((JobRequest::Chat { grant, model: m.root, input, data_root, stream }, m))
    }

    /// The serving marketplace, when this gateway is a provider.
    pub(crate) fn market(&self) -> Option<&crate::Market> {
        self.market.as_ref()
    }

    /// Charge a kept receipt when it is a marketplace chat's.
    pub(crate) async fn charge(
        self: &Arc<Self>,
        receipt: &veil_receipt::SignedReceipt,
    ) -> Result<(), GatewayError> {
        match &self.market {
            Some(m) => m.charge(self, receipt).await,
            None => Ok(()),
        }
    }

    /// The models served.
    pub(crate) fn models(&self) -> &[RegisteredModel] {
        &self.models
    }

    /// The domain users sign requests under.
    pub(crate) fn domain(&self) -> &alloy::sol_types::Eip712Domain {
        &self.domain
    }

    /// The replay guard for signed requests.
    pub(crate) fn replay(&self) -> &Replay {
        &self.replay
    }

    /// The ledger (reads only).
    pub(crate) fn ledger(&self) -> &ChainClient<DynProvider> {
        &self.ledger
    }

    /// The workers.
    pub(crate) fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Unix seconds now.
    pub(crate) fn ml_limit(&self) -> &veil_http::limit::RateLimit {
        &self.ml_limit
    }

    pub(crate) fn trust(&self) -> &veil_verify::Trust {
        &self.trust
    }

    /// A kept receipt's bytes, by id (`sha256:` optional).
    pub(crate) async fn kept_receipt(&self, id: &str) -> Result<Vec<u8>, GatewayError> {
        self.kept(id, crate::db::Part::Body).await
    }

    /// A kept receipt's inclusion in the transparency log, by receipt id.
    pub(crate) async fn kept_inclusion(&self, id: &str) -> Result<Vec<u8>, GatewayError> {
        self.kept(id, crate::db::Part::Inclusion).await
    }

    async fn kept(&self, id: &str, part: crate::db::Part) -> Result<Vec<u8>, GatewayError> {
        let hexid = receipt_hex(id)?;
        self.receipts
            .get(hexid, part)
            .await
            .map_err(|e| GatewayError::Storage(e.to_string()))?
            .ok_or_else(|| GatewayError::ReceiptNotFound(hexid.to_owned()))
    }

    pub(crate) fn ml_jobs(&self) -> &crate::ml::MlJobs {
        &self.ml_jobs
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Count a route's answer, or its refusal shaped by `shape` the way the route's
    /// clients parse errors (problem documents, OpenAI's, Ollama's, KServe's).
    pub(crate) fn respond(
        &self,
        route: &str,
        started: Instant,
        r: Result<Response, GatewayError>,
        shape: fn(&veil_protocol::Problem) -> Response,
    ) -> Response {
        match r {
            Ok(resp) => {
                self.metrics.observe(route, "ok", started.elapsed());
                resp
            }
            Err(e) => {
                let p = e.problem();
                self.metrics.observe(route, p.code.as_str(), started.elapsed());
                tracing::info!(code = %p.code, route, "refused");
                shape(&p)
            }
        }
    }

    /// Keep a receipt under its id (atomically), so `GET /v1/receipts/{id}` finds it.
    /// The file is named by the id the gateway computes, never by the one the worker
    /// states: a worker cannot write outside the directory (`"id": "../x"`) nor file a
    /// receipt under another receipt's id.
    ///
    /// With a log configured, the receipt is also submitted to it and its inclusion
    /// kept beside it (`GET /v1/receipts/{id}/inclusion`); a receipt the log does not
    /// take is refused, so every receipt a client gets is in the log.
    pub(crate) async fn keep(&self, receipt: &veil_receipt::SignedReceipt) -> Result<(), GatewayError> {
        let (hexid, bytes) = verified_receipt(receipt)?;
        let storage = |e: crate::db::DatabaseError| GatewayError::Storage(e.to_string());
        self.receipts.put(&hexid, &bytes, (self.clock)()).await.map_err(storage)?;
        if let Some(log) = &self.log {
            let inclusion = log.submit_receipt(&bytes).await.map_err(|e| {
                tracing::warn!(error = %e, "the transparency log did not take a receipt");
                GatewayError::LogUnavailable(e.to_string())
            })?;
            let json =
                serde_json::to_vec_pretty(&inclusion).map_err(|e| GatewayError::Storage(e.to_string()))?;
            self.receipts.put_inclusion(&hexid, &json).await.map_err(storage)?;
        }
        if self.kept.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(PRUNE_EVERY) {
            let (receipts, retention, now) = (self.receipts.clone(), self.retention, (self.clock)());
            tokio::spawn(async move {
                if let Err(e) = receipts.prune(retention, now).await {
                    tracing::warn!(error = %e, "pruning old receipts");
                }
            });
        }
        Ok(())
    }
}

fn receipt_hex(id: &str) -> Result<&str, GatewayError> {
    let hexid = id.trim_start_matches("sha256:");
    if hexid.len() != 64 || !hexid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(GatewayError::Malformed("a receipt id is sha256: and 64 hex digits".into()));
    }
    Ok(hexid)
}

/// [`Gateway::keep`]: the id the gateway computes from the receipt's verified bytes
/// (never the one the worker states: a worker cannot file a receipt under another's id
/// or outside the store, `"id": "../x"`), and the bytes.
fn verified_receipt(receipt: &veil_receipt::SignedReceipt) -> Result<(String, Vec<u8>), GatewayError> {
    let bytes = receipt.to_json_pretty();
    let verified = veil_receipt::verify(bytes.as_bytes())
        .map_err(|e| GatewayError::WorkerFailed(format!("the worker's receipt does not verify: {e}")))?;
    Ok((hex::encode(verified.id.0), bytes.into_bytes()))
}

pub(crate) type Shared = Arc<Gateway>;

/// Time the request and count its outcome.
fn finish<T: Serialize>(g: &Gateway, route: &str, started: Instant, r: Result<T, GatewayError>) -> Response {
    g.respond(route, started, r.map(|v| Json(v).into_response()), |p| veil_http::problem_response(p.clone()))
}

async fn infer(State(g): State<Shared>, body: Result<ApiJson<InferBody>, HttpProblem>) -> Response {
    let started = Instant::now();
    let r = match body {
        Ok(ApiJson(b)) => g.infer(b).await,
        Err(p) => Err(p.into()),
    };
    if let Err(e) = &r {
        tracing::info!(code = %e.problem().code, "inference refused");
    }
    let (r, timing) = match r {
        Ok((answer, timing)) => (Ok(answer), Some(timing)),
        Err(p) => (Err(p), None),
    };
    let mut resp = finish(&g, "/v1/infer", started, r);
    if let Some(v) = timing.and_then(|t| HeaderValue::from_str(&t).ok()) {
        resp.headers_mut().insert("server-timing", v);
    }
    resp
}

#[derive(Deserialize)]
struct NonceQuery {
    nonce: Option<String>,
}

async fn attestation(State(g): State<Shared>, Query(q): Query<NonceQuery>) -> Response {
    let started = Instant::now();
    let r = match q.nonce {
        Some(n) => g.pool.attestation(&n).await,
        None => Err(GatewayError::Malformed("give ?nonce=".into())),
    };
    finish(&g, "/v1/attestation", started, r)
}

async fn receipt(State(g): State<Shared>, Path(id): Path<String>) -> Response {
    json_bytes(g.kept_receipt(&id).await)
}

async fn inclusion(State(g): State<Shared>, Path(id): Path<String>) -> Response {
    json_bytes(g.kept_inclusion(&id).await)
}

fn json_bytes(r: Result<Vec<u8>, GatewayError>) -> Response {
    match r {
        Ok(bytes) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Veil's catalog, which is also OpenAI's model list (`object`, `data`): stock
/// OpenAI clients read `data`, Veil's clients `models` and `signing`.
async fn models(State(g): State<Shared>) -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": g.models.iter().map(|m| json!({
            "id": m.meta.name, "object": "model", "created": 0, "owned_by": "veil", "root": m.root,
        })).collect::<Vec<_>>(),
        "models": g.models.iter().map(|m| json!({
            "name": m.meta.name, "root": m.root, "features": m.features,
            "task": m.meta.task, "classes": m.meta.classes,
        })).collect::<Vec<_>>(),
        "signing": {
            "name": veil_protocol::EIP712_NAME,
            "version": veil_protocol::EIP712_VERSION,
            "chain_id": g.ledger.chain_id(),
            "verifying_contract": g.ledger.deployment().inft,
            "max_expiry_secs": MAX_EXPIRY_SECS,
        },
    }))
}

async fn health(State(g): State<Shared>) -> Response {
    let workers = g.pool.worker_health().await;
    let ready = workers.iter().flatten().filter(|h| h.status == "ready").count();
    let status = if ready > 0 { "ok" } else { "unavailable" };
    let body = json!({
        "status": status,
        "workers": { "configured": g.pool.size(), "ready": ready, "reports": workers },
        "queue_length": g.pool.queue_len(),
        "running": g.pool.running(),
        "estimated_wait_ms": g.pool.estimated_wait().as_millis() as u64,
        "mean_job_ms": g.pool.mean_job_time().as_secs_f64() * 1000.0,
    });
    let code = if ready > 0 { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

async fn metrics(State(g): State<Shared>) -> Response {
    let text = g.metrics.render(&[
        ("veil_gateway_queue_length", "Jobs waiting for a worker.", g.pool.queue_len() as f64),
        ("veil_gateway_jobs_running", "Jobs running on workers.", g.pool.running() as f64),
        ("veil_gateway_workers_live", "Worker slots with a running worker.", g.pool.live() as f64),
        (
            "veil_gateway_job_seconds_mean",
            "Exponentially weighted job time.",
            g.pool.mean_job_time().as_secs_f64(),
        ),
    ]);
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], text).into_response()
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// Inference bodies carry a selection of ids (or, for v2, rows of features).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The gateway's routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    if gateway.market.is_some() {
        crate::market::Market::spawn_settler(gateway.clone());
    }
    Router::new()
        .route("/v1/infer", post(infer))
        .route("/v1/chat/completions", post(crate::openai::chat_completions))
        .route("/v1/proxy/chat/completions", post(crate::openai::chat_completions))
        .route("/v1/proxy/models", get(models))
        .route("/v1/proxy/signature/{chat_id}", get(crate::market::signature))
        .route("/v1/user/{address}/unsettledfee", get(crate::market::unsettled_fee))
        .route("/v1/user/{address}/settlements", get(crate::market::settlements))
        .route("/v1/provider/settle", post(crate::market::settle_now))
        .route("/v1/quote", get(crate::market::quote))
        .route("/infer", post(crate::plain::infer))
        .route("/api/chat", post(crate::ollama::chat))
        .route("/api/generate", post(crate::ollama::generate))
        .route("/api/tags", get(crate::ollama::tags))
        .route("/api/show", post(crate::ollama::show))
        .route("/v1/attestation", get(attestation))
        .route("/v1/receipts/{id}", get(receipt))
        .route("/v1/receipts/{id}/inclusion", get(inclusion))
        .route("/v1/models", get(models))
        .route("/v1/ml/models", get(crate::ml::models))
        .route(
            "/v1/ml/models/{id}/inference",
            post(crate::ml::inference)
                .layer(axum::extract::DefaultBodyLimit::max(crate::ml::MAX_ML_BODY_BYTES))
                .layer(axum::middleware::from_fn_with_state(gateway.clone(), crate::ml::limited)),
        )
        .route("/v1/ml/jobs/{id}", get(crate::ml::job))
        .route(
            "/v1/ml/proofs/{id}/verify",
            post(crate::ml::verify)
                .layer(axum::middleware::from_fn_with_state(gateway.clone(), crate::ml::limited)),
        )
        .route("/v1/health", get(health))
        // Anyone may start rounds of a federation of their own: a costly route.
        .route(
            "/v1/fl/rounds",
            post(crate::fl::relay)
                .layer(axum::middleware::from_fn_with_state(gateway.clone(), crate::ml::limited)),
        )
        .route("/v1/fl/{*rest}", get(crate::fl::relay).post(crate::fl::relay))
        // Anyone may order training on a token they may use: a costly route.
        .route(
            "/v1/train",
            post(crate::train::train)
                .layer(axum::middleware::from_fn_with_state(gateway.clone(), crate::ml::limited)),
        )
        .route("/v1/train/registration", get(crate::fl::relay))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v2", get(crate::kserve::server))
        .route("/v2/health/live", get(crate::kserve::live))
        .route("/v2/health/ready", get(crate::kserve::ready))
        .route("/v2/models/{name}", get(crate::kserve::model))
        .route("/v2/models/{name}/ready", get(crate::kserve::model_ready))
        .route("/v2/models/{name}/infer", post(crate::kserve::infer))
        .fallback(veil_http::no_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gateway)
}

#[cfg(test)]
mod tests {
    use super::{Retention, verified_receipt};
    use crate::db::{Part, Receipts, prune_dir};

    fn receipt() -> veil_receipt::SignedReceipt {
        let at = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let body = veil_receipt::Receipt::new(
            veil_receipt::Mode::Plain,
            veil_content::Root([1; 32]),
            veil_content::Root([2; 32]),
            at,
        );
        veil_receipt::sign(body, &ed25519_dalek::SigningKey::from_bytes(&[5; 32])).unwrap()
    }

    /// Issue 14, finding 9: the worker-stated id was joined into the path.
    #[tokio::test]
    async fn a_worker_cannot_choose_where_its_receipt_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("receipts");
        std::fs::create_dir(&dir).unwrap();
        let store = Receipts::Dir(dir.clone());
        let keep = |r: &veil_receipt::SignedReceipt| {
            let store = store.clone();
            let r = r.clone();
            async move {
                let (id, bytes) = verified_receipt(&r)?;
                store.put(&id, &bytes, 0).await.unwrap();
                Ok::<_, crate::GatewayError>(id)
            }
        };
        let good = receipt();
        let id = keep(&good).await.unwrap();
        assert_eq!(id, good.id.trim_start_matches("sha256:"));
        assert!(store.get(&id, Part::Body).await.unwrap().is_some());

        let mut escaping = receipt();
        escaping.id = "sha256:../../escaped".into();
        assert_ne!(escaping.id, good.id);
        let e = keep(&escaping).await.unwrap_err();
        assert_eq!(e.problem().code.as_str(), "inference.worker_failed", "{e}");
        // Another receipt's id, with a body that is not that receipt: refused too.
        let mut other = receipt();
        other.receipt.subject = Some("0xabc".into());
        assert_ne!(other.receipt, good.receipt);
        assert!(keep(&other).await.is_err());
        let names: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["receipts"], "nothing was written outside the receipts directory");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    /// Issue 14, finding 9: every anonymous KServe call's receipt was kept forever.
    #[test]
    fn receipts_are_kept_only_within_their_retention() {
        let dir = tempfile::tempdir().unwrap();
        let at = |secs: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        for (name, secs) in [("a", 100), ("b", 200), ("c", 300), ("d", 400)] {
            let f = std::fs::File::create(dir.path().join(format!("{name}.json"))).unwrap();
            f.set_modified(at(secs)).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not a receipt").unwrap();
        let names = || {
            let mut n: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            n.sort();
            n
        };
        let keep_all = Retention { max_age_secs: 1000, max_count: 10 };
        assert_eq!(prune_dir(dir.path(), keep_all, 450).unwrap(), 0);
        // At 450 with a 300 s life: a (350 s old) goes, b (250 s) stays.
        let by_age = Retention { max_age_secs: 300, max_count: 10 };
        assert_eq!(prune_dir(dir.path(), by_age, 450).unwrap(), 1);
        assert_eq!(names(), ["b.json", "c.json", "d.json", "notes.txt"]);
        // At most two: the oldest goes.
        let by_count = Retention { max_age_secs: 1000, max_count: 2 };
        assert_eq!(prune_dir(dir.path(), by_count, 450).unwrap(), 1);
        assert_eq!(names(), ["c.json", "d.json", "notes.txt"]);
    }
}
