//! The proof server's routes.

use std::sync::Arc;

use crate::ProverError;
use crate::queue::{Accepted, JobState, Prover};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use veil_http::{ApiJson, HttpProblem};

/// A sealed statement of 256 payments, or an inference input, is a few KiB.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `POST /v1/prove/income-threshold`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProveBody {
    /// The statement JSON sealed to the prover's key (veil-seal), base64.
    sealed: String,
}

fn unknown(id: &str) -> ProverError {
    ProverError::UnknownJob(id.chars().take(64).collect())
}

/// The capability a job's submitter was given, from `Authorization: Bearer …`.
fn capability(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

async fn submit(
    p: Arc<Prover>,
    body: Result<ApiJson<ProveBody>, HttpProblem>,
    submit: fn(&Prover, &[u8]) -> Result<Accepted, ProverError>,
) -> Result<Response, ProverError> {
    let ApiJson(body) = body?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(body.sealed.as_bytes())
        .map_err(|_| ProverError::Malformed("sealed must be base64".into()))?;
    // Opening and checking a statement hashes and runs the network: off the runtime.
    let Accepted { id, capability } = tokio::task::spawn_blocking(move || submit(&p, &sealed))
        .await
        .map_err(|_| ProverError::Internal("submit"))??;
    // The capability is shown once: reading, verifying and cancelling the job need it.
    let body = json!({
        "id": id, "status": "queued", "location": format!("/v1/proofs/{id}"), "capability": capability,
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn prove_income(
    State(p): State<Arc<Prover>>,
    body: Result<ApiJson<ProveBody>, HttpProblem>,
) -> Result<Response, ProverError> {
    submit(p, body, Prover::submit).await
}

async fn prove_inference(
    State(p): State<Arc<Prover>>,
    body: Result<ApiJson<ProveBody>, HttpProblem>,
) -> Result<Response, ProverError> {
    submit(p, body, Prover::submit_inference).await
}

async fn proof(
    State(p): State<Arc<Prover>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ProverError> {
    let state = p.get(&id, capability(&headers)).ok_or_else(|| unknown(&id))?;
    Ok(Json(json!({ "id": id, "job": state })).into_response())
}

async fn cancel(
    State(p): State<Arc<Prover>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ProverError> {
    let cap = capability(&headers);
    match p.get(&id, cap) {
        None => Err(unknown(&id)),
        Some(_) if p.cancel(&id, cap) => {
            Ok(Json(json!({ "id": id, "job": JobState::Cancelled })).into_response())
        }
        Some(_) => Err(ProverError::NotCancellable),
    }
}

async fn verify(
    State(p): State<Arc<Prover>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ProverError> {
    let p2 = p.clone();
    let id2 = id.clone();
    let cap = capability(&headers).to_owned();
    let cap2 = cap.clone();
    let r = tokio::task::spawn_blocking(move || p2.verify(&id2, &cap2))
        .await
        .map_err(|_| ProverError::Internal("verify"))?;
    match r {
        None if p.get(&id, &cap).is_none() => Err(unknown(&id)),
        None => Err(ProverError::NotDone),
        Some(Ok(valid)) => Ok(Json(json!({ "id": id, "valid": valid })).into_response()),
        Some(Err(e)) => Err(e.into()),
    }
}

async fn keys(State(p): State<Arc<Prover>>) -> Response {
    Json(json!({
        "hpke": p.public_key().to_string(),
        "ed25519": p.signing_key_hex(),
        "secp256k1": format!("{:#x}", p.completion_address()),
        "circuits": p.circuits(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct NonceQuery {
    nonce: String,
}

async fn attestation(
    State(p): State<Arc<Prover>>,
    q: Result<axum::extract::Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ProverError> {
    let axum::extract::Query(q) = q.map_err(|e| ProverError::Malformed(e.body_text()))?;
    let answer = tokio::task::spawn_blocking(move || p.attestation(&q.nonce))
        .await
        .map_err(|_| ProverError::Internal("attestation"))??;
    Ok(Json(answer).into_response())
}

#[derive(Deserialize)]
struct AccountQuery {
    account: String,
}

async fn registration(
    State(p): State<Arc<Prover>>,
    q: Result<axum::extract::Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ProverError> {
    let axum::extract::Query(q) = q.map_err(|e| ProverError::Malformed(e.body_text()))?;
    let answer = tokio::task::spawn_blocking(move || p.registration(&q.account))
        .await
        .map_err(|_| ProverError::Internal("registration"))??;
    Ok(Json(answer).into_response())
}

async fn completion(
    State(p): State<Arc<Prover>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<ApiJson<veil_protocol::CompletionTarget>, HttpProblem>,
) -> Result<Response, ProverError> {
    let ApiJson(target) = body?;
    let cap = capability(&headers).to_owned();
    let signed =
        tokio::task::spawn_blocking(move || p.completion(&id, &cap, target).ok_or_else(|| unknown(&id)))
            .await
            .map_err(|_| ProverError::Internal("completion"))???;
    Ok(Json(signed).into_response())
}

async fn health(State(p): State<Arc<Prover>>) -> Response {
    let (waiting, running, wait) = p.load();
    Json(json!({
        "status": "ok",
        "queue_length": waiting,
        "running": running,
        "estimated_wait_ms": wait.as_millis() as u64,
    }))
    .into_response()
}

/// The proof server's routes.
pub fn router(prover: Arc<Prover>) -> Router {
    Router::new()
        .route("/v1/prove/income-threshold", post(prove_income))
        .route("/v1/prove/inference", post(prove_inference))
        .route("/v1/proofs/{id}", get(proof).delete(cancel))
        .route("/v1/proofs/{id}/verify", post(verify))
        .route("/v1/proofs/{id}/completion", post(completion))
        .route("/v1/prover", get(keys))
        .route("/v1/attestation", get(attestation))
        .route("/v1/registration", get(registration))
        .route("/v1/health", get(health))
        .fallback(veil_http::no_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(prover)
}
