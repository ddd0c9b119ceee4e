//! Routes and their handlers.

use std::path::PathBuf;
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
use veil_protocol::{JobRequest, JobResponse, SignedRequest, domain};

use crate::GatewayError;
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::replay::ReplayGuard;

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
    pub replay: ReplayGuard,
    /// Where receipts are kept, one file per id.
    pub receipts_dir: PathBuf,
    /// Unix seconds.
    pub clock: fn() -> u64,
}

/// The gateway's state.
pub struct Gateway {
    ledger: ChainClient<DynProvider>,
    pool: Arc<Pool>,
    models: Vec<RegisteredModel>,
    replay: ReplayGuard,
    receipts_dir: PathBuf,
    clock: fn() -> u64,
    domain: Eip712Domain,
    metrics: Metrics,
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
            receipts_dir: parts.receipts_dir,
            clock: parts.clock,
            domain,
            metrics: Metrics::default(),
        }
    }

    fn model(&self, name_or_root: &str) -> Result<&RegisteredModel, GatewayError> {
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
        self.replay
            .check_and_record(&signer.to_string(), &request.nonce, request.expiry, now)?;
        let checked = started.elapsed();
        let data = self.ledger.intelligent_data(token.value()).await.map_err(|e| {
            if e.is_nonexistent_token() {
                GatewayError::TokenUnknown {
                    token,
                    reason: "does not exist",
                }
            } else {
                GatewayError::Ledger(e.to_string())
            }
        })?;
        let first = data.first().ok_or(GatewayError::TokenUnknown {
            token,
            reason: "has no data",
        })?;
        let job = JobRequest::Token {
            request,
            data_root: Root(first.data_hash.0),
        };
        let looked_up = started.elapsed();
        let (answer, worker_timing) = self.pool.dispatch(&job).await?;
        let dispatched = started.elapsed();
        self.keep(&answer)?;
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

    /// Keep a receipt under its id (atomically), so `GET /v1/receipts/{id}` finds it.
    fn keep(&self, answer: &JobResponse) -> Result<(), GatewayError> {
        let hexid = answer.receipt.id.trim_start_matches("sha256:");
        let path = self.receipts_dir.join(format!("{hexid}.json"));
        veil_fs::write_atomic(&path, answer.receipt.to_json_pretty().as_bytes())
            .map_err(|e| GatewayError::Storage(e.to_string()))
    }
}

type Shared = Arc<Gateway>;

/// Time the request and count its outcome.
fn finish<T: Serialize>(g: &Gateway, route: &str, started: Instant, r: Result<T, GatewayError>) -> Response {
    match r {
        Ok(v) => {
            g.metrics.observe(route, "ok", started.elapsed());
            Json(v).into_response()
        }
        Err(e) => {
            let p = e.problem();
            g.metrics.observe(route, p.code.as_str(), started.elapsed());
            veil_http::problem_response(p)
        }
    }
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
    let hexid = id.trim_start_matches("sha256:");
    if hexid.len() != 64 || !hexid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return GatewayError::Malformed("a receipt id is sha256: and 64 hex digits".into()).into_response();
    }
    match std::fs::read(g.receipts_dir.join(format!("{hexid}.json"))) {
        Ok(bytes) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response(),
        Err(_) => GatewayError::ReceiptNotFound(hexid.to_owned()).into_response(),
    }
}

async fn models(State(g): State<Shared>) -> Json<Value> {
    Json(json!({
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
    let code = if ready > 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(g): State<Shared>) -> Response {
    let text = g.metrics.render(&[
        (
            "veil_gateway_queue_length",
            "Jobs waiting for a worker.",
            g.pool.queue_len() as f64,
        ),
        (
            "veil_gateway_jobs_running",
            "Jobs running on workers.",
            g.pool.running() as f64,
        ),
        (
            "veil_gateway_workers_live",
            "Worker slots with a running worker.",
            g.pool.live() as f64,
        ),
        (
            "veil_gateway_job_seconds_mean",
            "Exponentially weighted job time.",
            g.pool.mean_job_time().as_secs_f64(),
        ),
    ]);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

// ---- KServe Open Inference Protocol v2, for the public models ----

async fn v2_server() -> Json<Value> {
    Json(json!({"name": "veil", "version": env!("CARGO_PKG_VERSION"), "extensions": ["veil-receipts"]}))
}

async fn v2_live() -> Json<Value> {
    Json(json!({"live": true}))
}

async fn v2_ready(State(g): State<Shared>) -> Response {
    let ready = g.pool.live() > 0;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({"ready": ready}))).into_response()
}

fn v2_metadata_of(m: &RegisteredModel) -> Value {
    json!({
        "name": m.meta.name,
        "versions": [m.root.to_string()],
        "platform": "onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, m.features]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, m.meta.classes.len()]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ],
    })
}

async fn v2_model(State(g): State<Shared>, Path(name): Path<String>) -> Response {
    match g.model(&name) {
        Ok(m) => Json(v2_metadata_of(m)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn v2_model_ready(State(g): State<Shared>, Path(name): Path<String>) -> Response {
    match g.model(&name) {
        Ok(_) => Json(json!({"name": name, "ready": g.pool.live() > 0})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct V2Tensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    data: Value,
}

#[derive(Deserialize)]
struct V2Request {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<V2Tensor>,
}

fn flatten(v: &Value, out: &mut Vec<f32>) -> Result<(), GatewayError> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| flatten(i, out)),
        Value::Number(n) => {
            let x = n
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| v2_bad("a value is not a finite number"))?;
            out.push(x as f32);
            Ok(())
        }
        _ => Err(v2_bad("tensor data must be numbers")),
    }
}

fn v2_bad(detail: &str) -> GatewayError {
    GatewayError::BadTensor(detail.to_owned())
}

async fn v2_infer(
    State(g): State<Shared>,
    Path(name): Path<String>,
    body: Result<ApiJson<V2Request>, HttpProblem>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let ApiJson(req) = body.map_err(GatewayError::from)?;
        let m = g.model(&name)?;
        let [t] = req.inputs.as_slice() else {
            return Err(v2_bad("send exactly one input tensor"));
        };
        if t.datatype != "FP32" || t.name != "input" {
            return Err(v2_bad("the input tensor is `input`, FP32"));
        }
        let (rows, width) = match t.shape.as_slice() {
            [r, w] if *r > 0 && *w as usize == m.features && *r as usize <= veil_protocol::MAX_ROWS => {
                (*r as usize, *w as usize)
            }
            _ => return Err(v2_bad(&format!("shape must be [rows, {}] with 1 to {} rows", m.features, veil_protocol::MAX_ROWS))),
        };
        let mut flat = Vec::with_capacity(rows * width);
        flatten(&t.data, &mut flat)?;
        if flat.len() != rows * width {
            return Err(v2_bad("data does not match the shape"));
        }
        let job = JobRequest::Direct {
            model: m.root,
            rows: flat.chunks(width).map(<[f32]>::to_vec).collect(),
        };
        let (answer, _) = g.pool.dispatch(&job).await?;
        g.keep(&answer)?;
        let preds = &answer.output.predictions;
        let probs: Vec<f64> = preds.iter().flat_map(|p| p.probabilities.iter().copied()).collect();
        let labels: Vec<&str> = preds.iter().map(|p| p.label.as_str()).collect();
        Ok(json!({
            "model_name": m.meta.name,
            "model_version": m.root.to_string(),
            "id": req.id.unwrap_or_else(|| answer.receipt.id.clone()),
            "parameters": {"veil_receipt_id": answer.receipt.id},
            "outputs": [
                {"name": "probabilities", "datatype": "FP32", "shape": [rows, m.meta.classes.len()], "data": probs},
                {"name": "label", "datatype": "BYTES", "shape": [rows], "data": labels},
            ],
        }))
    }
    .await;
    finish(&g, "/v2/models/{name}/infer", started, r)
}

/// Inference bodies carry a selection of ids (or, for v2, rows of features).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The gateway's routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/infer", post(infer))
        .route("/v1/attestation", get(attestation))
        .route("/v1/receipts/{id}", get(receipt))
        .route("/v1/models", get(models))
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v2", get(v2_server))
        .route("/v2/health/live", get(v2_live))
        .route("/v2/health/ready", get(v2_ready))
        .route("/v2/models/{name}", get(v2_model))
        .route("/v2/models/{name}/ready", get(v2_model_ready))
        .route("/v2/models/{name}/infer", post(v2_infer))
        .fallback(veil_http::no_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gateway)
}
