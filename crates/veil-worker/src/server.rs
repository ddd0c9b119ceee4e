//! The worker's HTTP face, for the gateway only (bind it to loopback or a private
//! network): jobs, fresh attestation, health.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use veil_http::{ApiJson, Problem};

use crate::Worker;
use veil_protocol::JobRequest;

/// Job bodies carry at most `MAX_ROWS` rows of features.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

async fn job(State(w): State<Arc<Worker>>, ApiJson(req): ApiJson<JobRequest>) -> Result<Response, Problem> {
    let answer = w.run(req).await;
    if let Err(p) = &answer {
        tracing::info!(code = %p.code, "job refused");
    }
    let (answer, timings) = answer?;
    let mut resp = Json(answer).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&timings.header()) {
        resp.headers_mut().insert("server-timing", v);
    }
    Ok(resp)
}

#[derive(serde::Deserialize)]
struct NonceQuery {
    nonce: String,
}

async fn attestation(
    State(w): State<Arc<Worker>>,
    q: Result<Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = q.map_err(|e| {
        Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "request.malformed",
            e.body_text(),
        )
    })?;
    let w2 = w.clone();
    let evidence = tokio::task::spawn_blocking(move || w2.attestation(&q.nonce))
        .await
        .map_err(|_| {
            Problem::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "inference.internal",
                "attestation task failed",
            )
        })??;
    Ok(Json(evidence).into_response())
}

async fn health(State(w): State<Arc<Worker>>) -> Response {
    Json(w.health()).into_response()
}

async fn not_found() -> Problem {
    Problem::no_route()
}

/// The worker's routes.
pub fn router(worker: Arc<Worker>) -> Router {
    Router::new()
        .route("/v1/jobs", post(job))
        .route("/v1/attestation", get(attestation))
        .route("/v1/health", get(health))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(worker)
}
