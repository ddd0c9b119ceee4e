//! The verifier's routes: `GET /v1/attestation?nonce=N`, `POST /v1/statements`,
//! `GET /v1/health`.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use veil_http::{ApiJson, HttpProblem};
use veil_protocol::StatementRequest;

use crate::{Oracle, OracleError};

/// Evidence with its collateral is tens of KiB.
const MAX_BODY_BYTES: usize = 1024 * 1024;

impl From<HttpProblem> for OracleError {
    fn from(p: HttpProblem) -> Self {
        Self::Body(p.0)
    }
}

impl IntoResponse for OracleError {
    fn into_response(self) -> Response {
        veil_http::problem_response(self.problem())
    }
}

#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Deserialize)]
struct NonceQuery {
    nonce: String,
}

async fn attestation(
    State(o): State<Arc<Oracle>>,
    q: Result<Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, OracleError> {
    let Query(q) = q.map_err(|e| OracleError::Malformed(e.body_text()))?;
    let evidence = tokio::task::spawn_blocking(move || o.attestation(&q.nonce))
        .await
        .map_err(|_| OracleError::Internal("attest"))??;
    Ok(Json(evidence).into_response())
}

async fn statements(
    State(o): State<Arc<Oracle>>,
    body: Result<ApiJson<StatementRequest>, HttpProblem>,
) -> Result<Response, OracleError> {
    let ApiJson(req) = body?;
    // Verifying evidence checks certificate chains and signatures: off the runtime.
    let st = tokio::task::spawn_blocking(move || o.statement(req.prover, &req.evidence))
        .await
        .map_err(|_| OracleError::Internal("verify"))??;
    Ok(Json(st).into_response())
}

/// The verifier's HTTP API.
pub fn router(oracle: Arc<Oracle>) -> Router {
    Router::new()
        .route("/v1/attestation", get(attestation))
        .route("/v1/statements", post(statements))
        .route("/v1/health", get(|| async { Json(Health { status: "ok" }) }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(oracle)
}
