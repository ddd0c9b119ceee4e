//! The worker's HTTP face, for the gateway only (bind it to loopback or a private
//! network): jobs, fresh attestation, health, and the federated rounds it aggregates.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use veil_http::{ApiJson, HttpProblem, problem_response};
use veil_protocol::market::{MarketError, SettleRequest, SignReceipt};
use veil_protocol::{ChatEvent, ErrorCode, JobRequest, Problem};

use veil_fl::FlError;
use veil_protocol::fl::{FlMessage, SignedRoundStart};
use veil_protocol::train::TrainJob;

use crate::{JobError, Worker};

/// Job bodies carry at most `MAX_ROWS` rows of features.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The one place a worker's refusal becomes a status and a code.
pub(crate) fn problem(e: &JobError) -> Problem {
    let (status, code) = match e {
        // The gateway checked the request already; failing here means it changed.
        JobError::Request(r) => (StatusCode::UNAUTHORIZED, r.code()),
        JobError::BadNonce => (StatusCode::BAD_REQUEST, ErrorCode::RequestMalformed),
        JobError::ModelUnknown(_) => (StatusCode::NOT_FOUND, ErrorCode::InferenceModelUnknown),
        JobError::AttestationRefused(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::InferenceAttestationRefused)
        }
        JobError::NotAuthorized { .. } => (StatusCode::FORBIDDEN, ErrorCode::InferenceNotAuthorized),
        JobError::KeyRefused(_) => (StatusCode::FORBIDDEN, ErrorCode::InferenceKeyRefused),
        JobError::KeyUnavailable(_) => (StatusCode::BAD_GATEWAY, ErrorCode::InferenceKeyRefused),
        JobError::DataIntegrity(_) => (StatusCode::BAD_GATEWAY, ErrorCode::InferenceDataIntegrity),
        JobError::BadInput(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InferenceBadInput),
        JobError::BadCiphertext(_) => (StatusCode::BAD_REQUEST, ErrorCode::FheBadCiphertext),
        JobError::CiphertextTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::FheTooLarge),
        JobError::GrantLimit(_) => (StatusCode::FORBIDDEN, ErrorCode::RequestGrantLimit),
        JobError::Busy => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::InferenceBusy),
        JobError::Fl(e) => match e {
            FlError::NotParticipant(_) => (StatusCode::FORBIDDEN, ErrorCode::FlNotParticipant),
            FlError::WrongStage { .. } => (StatusCode::CONFLICT, ErrorCode::FlWrongStage),
            FlError::BadMessage(_) | FlError::Data(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::FlBadMessage)
            }
            FlError::BadRound(_) => (StatusCode::CONFLICT, ErrorCode::FlBadRound),
            FlError::Aborted(_) => (StatusCode::CONFLICT, ErrorCode::FlAborted),
        },
        JobError::FlUnknown(_) => (StatusCode::NOT_FOUND, ErrorCode::FlUnknownRound),
        JobError::BadOrder(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::TrainBadOrder),
        JobError::Market(MarketError::Malformed(_)) => (StatusCode::BAD_REQUEST, ErrorCode::MarketBadKey),
        JobError::Market(MarketError::ReceiptId(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InferenceBadInput)
        }
        JobError::Market(_) => (StatusCode::UNAUTHORIZED, ErrorCode::MarketUnauthorized),
        // Nobody reads it: the client closed the connection (nginx's 499).
        JobError::Cancelled => {
            (StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST), ErrorCode::InferenceInternal)
        }
        JobError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InferenceInternal),
    };
    Problem::new(status, code, e.to_string())
}

impl IntoResponse for JobError {
    fn into_response(self) -> Response {
        let p = problem(&self);
        tracing::info!(code = %p.code, "job refused");
        problem_response(p)
    }
}

async fn job(
    State(w): State<Arc<Worker>>,
    body: Result<ApiJson<JobRequest>, HttpProblem>,
) -> Result<Response, Response> {
    let ApiJson(req) = body.map_err(IntoResponse::into_response)?;
    let streamed = match &req {
        JobRequest::Chat { stream, .. } => *stream,
        JobRequest::Market(m) => m.stream,
        _ => false,
    };
    if streamed {
        return Ok(stream(w, req));
    }
    let (answer, timings) = w.run(req).await.map_err(IntoResponse::into_response)?;
    Ok(timed(answer, &timings))
}

/// `body` as JSON, with where the job's time went in `Server-Timing`.
fn timed(body: impl serde::Serialize, timings: &crate::Timings) -> Response {
    let mut resp = Json(body).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&timings.header()) {
        resp.headers_mut().insert("server-timing", v);
    }
    resp
}

/// Deltas generated but not yet sent, at most, before generation waits for the reader.
const STREAM_BUFFER: usize = 32;

/// A chat answered as NDJSON [`ChatEvent`]s: text as it is generated, then the answer
/// with its receipt (or the refusal). When the reader goes away, the channel closes
/// and generation stops at its next token.
fn stream(w: Arc<Worker>, req: JobRequest) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<ChatEvent>(STREAM_BUFFER);
    tokio::spawn(async move {
        let (dtx, mut drx) = tokio::sync::mpsc::channel::<String>(STREAM_BUFFER);
        let job = w.run_with(req, Some(dtx));
        tokio::pin!(job);
        let result = loop {
            tokio::select! {
                Some(piece) = drx.recv() => {
                    if tx.send(ChatEvent::Delta(piece)).await.is_err() {
                        // Dropping `drx` (and the job) makes the generator stop.
                        return;
                    }
                }
                r = &mut job => break r,
            }
        };
        while let Ok(piece) = drx.try_recv() {
            if tx.send(ChatEvent::Delta(piece)).await.is_err() {
                return;
            }
        }
        let last = match result {
            Ok((answer, _)) => ChatEvent::Done(Box::new(answer)),
            Err(e) => {
                let p = problem(&e);
                tracing::info!(code = %p.code, "streamed job refused");
                ChatEvent::Error(p)
            }
        };
        let _ = tx.send(last).await;
    });
    let lines = futures::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        // Every event is plain data: it always serialises.
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, std::convert::Infallible>(line), rx))
    });
    (
        [(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/x-ndjson"))],
        axum::body::Body::from_stream(lines),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct NonceQuery {
    nonce: String,
}

async fn attestation(
    State(w): State<Arc<Worker>>,
    q: Result<Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    let Query(q) = q.map_err(bad_query)?;
    evidence(move || w.attestation(&q.nonce)).await
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> Response {
    problem_response(Problem::new(StatusCode::BAD_REQUEST, ErrorCode::RequestMalformed, e.body_text()))
}

/// Evidence made off the async runtime (a hardware attester blocks), as the answer.
async fn evidence(
    make: impl FnOnce() -> Result<veil_protocol::AttestationResponse, JobError> + Send + 'static,
) -> Result<Response, Response> {
    let evidence = tokio::task::spawn_blocking(make)
        .await
        .map_err(|_| JobError::Internal("attestation task failed".into()).into_response())?
        .map_err(IntoResponse::into_response)?;
    Ok(Json(evidence).into_response())
}

async fn fl_start(
    State(w): State<Arc<Worker>>,
    body: Result<ApiJson<SignedRoundStart>, HttpProblem>,
) -> Result<Response, Response> {
    let ApiJson(start) = body.map_err(IntoResponse::into_response)?;
    Ok(Json(w.fl_start(start).map_err(IntoResponse::into_response)?).into_response())
}

async fn fl_view(State(w): State<Arc<Worker>>, Path(fed): Path<String>) -> Result<Response, Response> {
    Ok(Json(w.fl_view(&fed).map_err(IntoResponse::into_response)?).into_response())
}

async fn fl_input(
    State(w): State<Arc<Worker>>,
    path: Result<Path<(String, u64, u32)>, axum::extract::rejection::PathRejection>,
) -> Result<Response, Response> {
    let Path((fed, round, client)) = path.map_err(bad_path)?;
    Ok(Json(w.fl_input(&fed, round, client).await.map_err(IntoResponse::into_response)?).into_response())
}

fn bad_path(e: axum::extract::rejection::PathRejection) -> Response {
    problem_response(Problem::new(StatusCode::BAD_REQUEST, ErrorCode::RequestMalformed, e.body_text()))
}

async fn fl_outcome(
    State(w): State<Arc<Worker>>,
    path: Result<Path<(String, u64)>, axum::extract::rejection::PathRejection>,
) -> Result<Response, Response> {
    let Path((fed, round)) = path.map_err(bad_path)?;
    Ok(Json(w.fl_outcome(&fed, round).map_err(IntoResponse::into_response)?).into_response())
}

async fn fl_message(
    State(w): State<Arc<Worker>>,
    body: Result<ApiJson<FlMessage>, HttpProblem>,
) -> Result<Response, Response> {
    let ApiJson(msg) = body.map_err(IntoResponse::into_response)?;
    w.fl_submit(msg).map_err(IntoResponse::into_response)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn train(
    State(w): State<Arc<Worker>>,
    body: Result<ApiJson<TrainJob>, HttpProblem>,
) -> Result<Response, Response> {
    let ApiJson(job) = body.map_err(IntoResponse::into_response)?;
    let (answer, timings) = w.train(job).await.map_err(IntoResponse::into_response)?;
    Ok(timed(answer, &timings))
}

#[derive(serde::Deserialize)]
struct AccountQuery {
    account: String,
}

async fn registration(
    State(w): State<Arc<Worker>>,
    q: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    let Query(q) = q.map_err(bad_query)?;
    evidence(move || w.registration(&q.account)).await
}

/// `POST /v1/market/sign`: the chain key's signature over one of this enclave's
/// marketplace receipts.
async fn market_sign(
    State(w): State<Arc<Worker>>,
    body: Result<ApiJson<SignReceipt>, HttpProblem>,
) -> Result<Response, Response> {
    let ApiJson(req) = body.map_err(IntoResponse::into_response)?;
    Ok(Json(w.sign_market_receipt(&req.receipt).map_err(IntoResponse::into_response)?).into_response())
}

/// `POST /v1/market/settle`: the chain key's settlement over this enclave's receipts.
async fn market_settle(
    State(w): State<Arc<Worker>>,
    body: Result<ApiJson<SettleRequest>, HttpProblem>,
) -> Result<Response, Response> {
    let ApiJson(req) = body.map_err(IntoResponse::into_response)?;
    let signed = tokio::task::spawn_blocking(move || w.sign_settlement(&req))
        .await
        .map_err(|_| JobError::Internal("the settlement task failed".into()).into_response())?;
    Ok(Json(signed.map_err(IntoResponse::into_response)?).into_response())
}

async fn health(State(w): State<Arc<Worker>>) -> Response {
    Json(w.health()).into_response()
}

/// The worker's routes.
pub fn router(worker: Arc<Worker>) -> Router {
    Router::new()
        .route("/v1/jobs", post(job))
        .route("/v1/market/sign", post(market_sign))
        .route("/v1/market/settle", post(market_settle))
        .route("/v1/attestation", get(attestation))
        .route("/v1/health", get(health))
        .route("/v1/fl/rounds", post(fl_start))
        // The aggregator's own evidence (through the gateway's relay, this worker's).
        .route("/v1/fl/attestation", get(attestation))
        .route("/v1/fl/{federation}", get(fl_view))
        .route("/v1/fl/{federation}/rounds/{round}", get(fl_outcome))
        .route("/v1/fl/{federation}/rounds/{round}/input/{client}", get(fl_input))
        .route("/v1/fl/{federation}/messages", post(fl_message))
        .route("/v1/train", post(train))
        // Evidence that binds the chain key to a prover account, for its registration.
        .route("/v1/train/registration", get(registration))
        .fallback(veil_http::no_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(worker)
}
