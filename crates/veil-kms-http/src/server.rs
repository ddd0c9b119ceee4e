//! The axum service.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use veil_evidence::AttestationError;
use veil_http::{ApiJson, HttpProblem, Problem};
use veil_kms::{Broker, KmsError};
use veil_protocol::kms::{AttestRequest, ResourceRequest, TokenKey, token_resource};
use veil_protocol::{ErrorCode, TokenId};

use crate::limit::RateLimit;

/// Evidence is a few KiB; anything much larger is not evidence.
const MAX_BODY_BYTES: usize = 256 * 1024;

fn status_of(e: &KmsError) -> StatusCode {
    match e {
        KmsError::Attestation(AttestationError::Parse(_)) => StatusCode::BAD_REQUEST,
        KmsError::Attestation(_)
        | KmsError::MeasurementNotAllowed { .. }
        | KmsError::ResourceNotAllowed { .. }
        | KmsError::NotAuthorized { .. } => StatusCode::FORBIDDEN,
        KmsError::Session => StatusCode::UNAUTHORIZED,
        KmsError::Request(
            veil_protocol::RequestError::Signature(_) | veil_protocol::RequestError::Expired { .. },
        ) => StatusCode::UNAUTHORIZED,
        KmsError::Request(_) => StatusCode::BAD_REQUEST,
        KmsError::NoDeployment => StatusCode::FORBIDDEN,
        KmsError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        KmsError::Ledger(_) => StatusCode::BAD_GATEWAY,
        KmsError::Audit(_) | KmsError::Seal(_) | KmsError::Rng => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn problem(e: KmsError) -> HttpProblem {
    HttpProblem(Problem::new(status_of(&e), e.code(), e.to_string()))
}

#[derive(Clone)]
struct AppState {
    broker: Arc<Broker>,
    clock: fn() -> u64,
    limit: Arc<RateLimit>,
}

/// Run a broker decision off the async runtime: verification and the audit fsync
/// block for a millisecond or more.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KmsError> + Send + 'static,
) -> Result<T, HttpProblem> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(problem),
        Err(_) => Err(HttpProblem(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::KmsInternal,
            "the decision task failed",
        ))),
    }
}

async fn challenge(State(s): State<AppState>) -> Result<Response, HttpProblem> {
    let c = s.broker.challenge((s.clock)()).map_err(problem)?;
    Ok(Json(c).into_response())
}

async fn attest(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<AttestRequest>,
) -> Result<Response, HttpProblem> {
    let now = (s.clock)();
    let broker = s.broker.clone();
    let grant = blocking(move || broker.attest(&req.evidence, now)).await;
    match &grant {
        Ok(g) => {
            tracing::info!(tee = ?g.tee, measurement = %g.measurement, dev_root = g.dev_root, "attested")
        }
        Err(p) => tracing::warn!(code = %p.0.code, "attestation refused"),
    }
    Ok(Json(grant?).into_response())
}

async fn resource(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ResourceRequest>,
) -> Result<Response, HttpProblem> {
    let now = (s.clock)();
    let broker = s.broker.clone();
    let name = req.resource.clone();
    let released = blocking(move || {
        let proof = req.proof().map_err(veil_kms::KmsError::Request)?;
        broker.resource(&req.session, &req.resource, proof, now)
    })
    .await;
    match &released {
        Ok(_) => tracing::info!(resource = %name, "key released"),
        Err(p) => tracing::warn!(resource = %name, code = %p.0.code, "key refused"),
    }
    Ok(Json(released?).into_response())
}

async fn token_public_key(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, HttpProblem> {
    let id: TokenId = id.parse().map_err(|e: veil_protocol::TokenIdError| {
        Problem::new(StatusCode::BAD_REQUEST, ErrorCode::RequestMalformed, e.to_string())
    })?;
    let key = s.broker.token_public_key(id);
    Ok(Json(TokenKey { resource: token_resource(id), public_key: key.to_string() }).into_response())
}

async fn model_public_key(
    State(s): State<AppState>,
    axum::extract::Path(root): axum::extract::Path<String>,
) -> Result<Response, HttpProblem> {
    let root: veil_content::Root = root.parse().map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::RequestMalformed,
            "a model root is 0x and 64 hex digits",
        )
    })?;
    let key = s.broker.model_public_key(&root);
    Ok(Json(TokenKey { resource: veil_protocol::kms::model_resource(&root), public_key: key.to_string() })
        .into_response())
}

async fn identity(State(s): State<AppState>) -> Json<veil_protocol::kms::BrokerIdentity> {
    Json(s.broker.identity())
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Refuse a client past its allowance on the routes this wraps (429, `Retry-After: 1`).
async fn limited(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    veil_http::limit::enforce(&s.limit, (s.clock)(), ErrorCode::KmsRateLimited, req, next).await
}

/// The broker's routes, reading time from `clock` (Unix seconds), with the default
/// per-client allowance on challenges and attestations.
pub fn router(broker: Arc<Broker>, clock: fn() -> u64) -> Router {
    router_with_limit(broker, clock, RateLimit::new(crate::limit::DEFAULT_PER_SECOND))
}

/// The broker's routes with `limit` on `/v1/kms/challenge` and `/v1/kms/attest`.
pub fn router_with_limit(broker: Arc<Broker>, clock: fn() -> u64, limit: RateLimit) -> Router {
    let state = AppState { broker, clock, limit: Arc::new(limit) };
    let costly = Router::new()
        .route("/v1/kms/challenge", post(challenge))
        .route("/v1/kms/attest", post(attest))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), limited));
    Router::new()
        .merge(costly)
        .route("/v1/kms/resource", post(resource))
        .route("/v1/kms/identity", get(identity))
        .route("/v1/kms/tokens/{id}/public-key", get(token_public_key))
        .route("/v1/kms/models/{root}/public-key", get(model_public_key))
        .route("/v1/health", get(health))
        .fallback(veil_http::no_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
