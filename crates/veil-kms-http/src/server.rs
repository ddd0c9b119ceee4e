//! The axum service.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use veil_evidence::{AttestationError, Evidence};
use veil_kms::{Broker, KmsError};
pub use veil_http::{ApiJson, Problem};

/// Evidence is a few KiB; anything much larger is not evidence.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// `POST /v1/kms/attest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestRequest {
    /// The evidence, its runtime data carrying the challenge nonce.
    pub evidence: Evidence,
}

/// `POST /v1/kms/resource`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRequest {
    /// The session from `attest`.
    pub session: String,
    /// The resource (e.g. `token/42`).
    pub resource: String,
    /// The user the key is for (required for token resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

fn status_of(e: &KmsError) -> StatusCode {
    match e {
        KmsError::Attestation(AttestationError::Parse(_)) => StatusCode::BAD_REQUEST,
        KmsError::Attestation(_)
        | KmsError::MeasurementNotAllowed { .. }
        | KmsError::ResourceNotAllowed { .. }
        | KmsError::NotAuthorized { .. } => StatusCode::FORBIDDEN,
        KmsError::Session => StatusCode::UNAUTHORIZED,
        KmsError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        KmsError::Ledger(_) => StatusCode::BAD_GATEWAY,
        KmsError::Audit(_) | KmsError::Seal(_) | KmsError::Rng => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn problem(e: KmsError) -> Problem {
    Problem::new(status_of(&e), e.code(), e.to_string())
}

#[derive(Clone)]
struct AppState {
    broker: Arc<Broker>,
    clock: fn() -> u64,
}

/// Run a broker decision off the async runtime: verification and the audit fsync
/// block for a millisecond or more.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KmsError> + Send + 'static,
) -> Result<T, Problem> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(problem),
        Err(_) => Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "kms.internal",
            "the decision task failed",
        )),
    }
}

async fn challenge(State(s): State<AppState>) -> Result<Response, Problem> {
    let c = s.broker.challenge((s.clock)()).map_err(problem)?;
    Ok(Json(c).into_response())
}

async fn attest(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<AttestRequest>,
) -> Result<Response, Problem> {
    let now = (s.clock)();
    let broker = s.broker.clone();
    let grant = blocking(move || broker.attest(&req.evidence, now)).await;
    match &grant {
        Ok(g) => {
            tracing::info!(tee = ?g.tee, measurement = %g.measurement, dev_root = g.dev_root, "attested")
        }
        Err(p) => tracing::warn!(code = %p.code, "attestation refused"),
    }
    Ok(Json(grant?).into_response())
}

async fn resource(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ResourceRequest>,
) -> Result<Response, Problem> {
    let now = (s.clock)();
    let broker = s.broker.clone();
    let name = req.resource.clone();
    let released =
        blocking(move || broker.resource(&req.session, &req.resource, req.user.as_deref(), now)).await;
    match &released {
        Ok(_) => tracing::info!(resource = %name, "key released"),
        Err(p) => tracing::warn!(resource = %name, code = %p.code, "key refused"),
    }
    Ok(Json(released?).into_response())
}

/// Token ids are decimal uint256 values, as the INFT contract numbers them.
fn valid_token_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 78
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'))
}

async fn token_public_key(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, Problem> {
    if !valid_token_id(&id) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "request.malformed",
            format!("token id {id:?} is not a decimal uint256"),
        ));
    }
    let key = s.broker.token_public_key(&id);
    Ok(Json(serde_json::json!({
        "resource": format!("{}{id}", veil_kms::TOKEN_RESOURCE_PREFIX),
        "public_key": key.to_string(),
    }))
    .into_response())
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> Problem {
    Problem::no_route()
}

/// The broker's routes, reading time from `clock` (Unix seconds).
pub fn router(broker: Arc<Broker>, clock: fn() -> u64) -> Router {
    Router::new()
        .route("/v1/kms/challenge", post(challenge))
        .route("/v1/kms/attest", post(attest))
        .route("/v1/kms/resource", post(resource))
        .route("/v1/kms/tokens/{id}/public-key", get(token_public_key))
        .route("/v1/health", get(health))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState { broker, clock })
}
