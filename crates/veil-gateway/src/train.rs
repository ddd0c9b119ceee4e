//! `POST /v1/train`: a training order for a `JobRegistry` job, checked against the
//! chain before any worker sees it, then run by the worker that aggregates (the pool's
//! first live slot: the one whose chain key a prover account registers).
//!
//! The worker cannot read the chain, so this is where an order is tied to its job: the
//! job must be open, submitted by the order's signer, over the token's data root and
//! the order's spec, on this deployment's chain and registry. Without that check a
//! user could have the enclave sign a completion for someone else's job. The receipt
//! is kept (and logged) like every other before the answer leaves.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use veil_http::{ApiJson, HttpProblem};
use veil_protocol::train::{TrainJob, TrainOrder, TrainResponse, root_word};
use veil_protocol::{MAX_EXPIRY_SECS, Problem, SignedRequest};

use crate::GatewayError;
use crate::gateway::Shared;

/// Training a table of up to 100,000 rows takes seconds, not minutes.
const TRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// `POST /v1/train`.
pub(crate) async fn train(
    State(g): State<Shared>,
    body: Result<ApiJson<SignedRequest>, HttpProblem>,
) -> Result<axum::Json<TrainResponse>, GatewayError> {
    let ApiJson(request) = body?;
    let now = g.now();
    let signer = request.verify(g.domain(), now, MAX_EXPIRY_SECS)?;
    let token = request.token()?;
    let order: TrainOrder = serde_json::from_value(request.input.clone())
        .map_err(|e| GatewayError::TrainBadOrder(format!("the input is not a training order: {e}")))?;
    let job_id = order.job_id().ok_or_else(|| {
        GatewayError::TrainBadOrder(format!("job {:?} is not a decimal uint256", order.job))
    })?;
    g.replay().check_and_record(&signer.to_string(), &request.nonce, request.expiry, now).await?;
    let data_root = g.data_root(token).await?;
    let ledger = g.ledger();
    let mismatch = |m: String| Err(GatewayError::TrainJobMismatch(m));
    if order.chain_id != ledger.chain_id() || order.job_registry != ledger.deployment().jobs {
        return mismatch(format!(
            "the order names registry {} on chain {}; this gateway's is {} on chain {}",
            order.job_registry,
            order.chain_id,
            ledger.deployment().jobs,
            ledger.chain_id()
        ));
    }
    let job = ledger.job(job_id).await.map_err(|e| GatewayError::Ledger(e.to_string()))?;
    if job.status != "open" {
        return mismatch(format!("job {job_id} is {}, not open", job.status));
    }
    if job.requester != signer {
        return mismatch(format!(
            "job {job_id} was submitted by {}, not the order's signer {signer}",
            job.requester
        ));
    }
    if job.data_hash != root_word(&data_root) {
        return mismatch(format!(
            "job {job_id} names data {}, token {token}'s is {data_root}",
            job.data_hash
        ));
    }
    if job.model_hash != root_word(&request.model) {
        return mismatch(format!(
            "job {job_id} names spec {}, the order's is {}",
            job.model_hash, request.model
        ));
    }
    let Some(url) = g.pool().aggregator() else {
        return Err(GatewayError::WorkerUnavailable("no worker is running to train".into()));
    };
    let answer = g
        .pool()
        .http()
        .post(format!("{url}/v1/train"))
        .timeout(TRAIN_TIMEOUT)
        .json(&TrainJob { request, data_root })
        .send()
        .await
        .map_err(|e| GatewayError::WorkerUnavailable(format!("the training worker did not answer: {e}")))?;
    let status = answer.status();
    let is_problem = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(veil_protocol::PROBLEM_JSON.as_bytes()));
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| GatewayError::WorkerFailed(format!("the training worker's answer broke off: {e}")))?;
    if !status.is_success() {
        let p = is_problem.then(|| serde_json::from_slice::<Problem>(&bytes).ok()).flatten();
        return Err(p.map_or_else(
            || GatewayError::WorkerFailed(format!("the training worker answered {status}")),
            GatewayError::Worker,
        ));
    }
    let answer: TrainResponse = serde_json::from_slice(&bytes)
        .map_err(|e| GatewayError::WorkerFailed(format!("the training worker's answer: {e}")))?;
    g.keep(&answer.receipt).await?;
    Ok(axum::Json(answer))
}
