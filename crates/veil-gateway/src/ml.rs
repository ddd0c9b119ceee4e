//! The private-ML API (`/v1/ml/…`): one way to ask for inference at any privacy
//! level. `tee` sends plaintext rows to an attested worker; `fhe` and `hybrid` send a
//! query encrypted under the client's key to a worker that evaluates the model's int8
//! form on ciphertexts. Every worker is attested, so an `fhe` job is evaluated as a
//! `hybrid` one is and its receipt carries the evidence too; the levels differ in
//! what the client asks to be guaranteed, not in the path.
//!
//! A job is accepted (202, with an estimate from the jobs recently run for the same
//! model and level) only once everything the gateway can check without a key is
//! checked: the model, the level, the input's presence and, for a query, its header
//! (parameter set, input shape, size) — so a bad ciphertext is a 400 or a 413 at the
//! door, never a job that fails later. Jobs live in memory, bounded; their receipts
//! are kept like every receipt (`GET /v1/receipts/{id}`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use veil_content::Root;
use veil_fhe::{FheError, ParamSet, Query};
use veil_http::{ApiJson, HttpProblem};
use veil_model::{ModelFormat, RegisteredModel};
use veil_protocol::{JobRequest, MlInferenceRequest, MlJob, MlJobState, Privacy};

use crate::GatewayError;
use crate::gateway::Shared;

/// The largest inference body: a query of `veil_fhe::wire::MAX_QUERY_CIPHERTEXTS`
/// ciphertexts (~7 MB) in base64, with room to spare; anything larger is a 413.
pub(crate) const MAX_ML_BODY_BYTES: usize = 12 * 1024 * 1024;
/// Jobs remembered at once; the oldest finished job makes room for a new one.
pub const MAX_ML_JOBS: usize = 10_000;
/// Results held at once, in bytes (an FHE answer is up to ~10 MB): beyond it the
/// oldest finished jobs are dropped first.
pub const MAX_ML_RESULT_BYTES: usize = 256 << 20;
/// How long a finished job stays readable (its receipt stays in the receipt store).
pub const ML_JOB_RETENTION_SECS: u64 = 15 * 60;
/// Costly private-ML requests (inference, receipt verification) one client may make
/// per second, by default.
pub const ML_REQUESTS_PER_SECOND: u32 = 100;
/// Before a model and level have a measured time, what a job is expected to take.
const FIRST_ESTIMATE_MS: f64 = 100.0;

/// The jobs, and how long recent ones took.
pub(crate) struct MlJobs {
    inner: Mutex<Jobs>,
    /// Woken whenever a job settles (long-polling readers re-check theirs).
    settled: tokio::sync::Notify,
    /// The bound on results held, in bytes.
    max_bytes: usize,
}

impl Default for MlJobs {
    fn default() -> Self {
        Self::holding(MAX_ML_RESULT_BYTES)
    }
}

/// The longest a `GET /v1/ml/jobs/{id}?wait_ms=` waits for a running job.
pub const MAX_JOB_WAIT_MS: u64 = 60_000;

#[derive(Default)]
struct Jobs {
    by_id: HashMap<String, MlJob>,
    order: VecDeque<String>,
    /// Moving average of recent jobs' time to answer, per model and level (ms).
    took: HashMap<(Root, Privacy), f64>,
    /// Each finished job's result size, and their sum.
    sizes: HashMap<String, usize>,
    held: usize,
}

impl Jobs {
    /// Drop finished jobs past their retention, then the oldest finished ones while the
    /// results held exceed their bound. Running jobs stay: their clients are waiting.
    fn evict(&mut self, now: u64, max_bytes: usize) {
        let mut i = 0;
        while i < self.order.len() {
            let (finished, expired) = match self.by_id.get(&self.order[i]) {
                Some(j) => {
                    (j.state != MlJobState::Running, now.saturating_sub(j.created_at) > ML_JOB_RETENTION_SECS)
                }
                None => (true, true),
            };
            if finished && (expired || self.held > max_bytes) {
                if let Some(id) = self.order.remove(i) {
                    self.by_id.remove(&id);
                    self.held -= self.sizes.remove(&id).unwrap_or(0);
                }
            } else {
                i += 1;
            }
        }
    }
}

impl MlJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        // A panic while holding the lock leaves plain data, still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The expected time to answer for `model` at `privacy` (ms), if measured.
    pub(crate) fn measured_ms(&self, model: Root, privacy: Privacy) -> Option<f64> {
        self.lock().took.get(&(model, privacy)).copied()
    }

    fn admit(&self, job: MlJob) -> Result<(), GatewayError> {
        let mut jobs = self.lock();
        jobs.evict(job.created_at, self.max_bytes);
        if jobs.by_id.len() >= MAX_ML_JOBS {
            let by_id = &jobs.by_id;
            let oldest =
                jobs.order.iter().position(|id| by_id.get(id).is_none_or(|j| j.state != MlJobState::Running));
            let Some(i) = oldest else {
                return Err(GatewayError::Busy { waiting: MAX_ML_JOBS });
            };
            if let Some(id) = jobs.order.remove(i) {
                jobs.by_id.remove(&id);
                jobs.held -= jobs.sizes.remove(&id).unwrap_or(0);
            }
        }
        jobs.order.push_back(job.id.clone());
        jobs.by_id.insert(job.id.clone(), job);
        Ok(())
    }

    /// A table holding at most `max_bytes` of results.
    fn holding(max_bytes: usize) -> Self {
        Self { inner: Mutex::default(), settled: tokio::sync::Notify::new(), max_bytes }
    }

    fn settle(
        &self,
        id: &str,
        key: (Root, Privacy),
        took_ms: f64,
        now: u64,
        result: Result<veil_protocol::JobResponse, GatewayError>,
    ) {
        let mut jobs = self.lock();
        // Only answers say how long answering takes: a refusal is quick and says nothing.
        if result.is_ok() {
            match jobs.took.get_mut(&key) {
                Some(avg) => *avg = 0.8 * *avg + 0.2 * took_ms,
                None => {
                    jobs.took.insert(key, took_ms);
                }
            }
        }
        if let Some(job) = jobs.by_id.get_mut(id) {
            match result {
                Ok(answer) => {
                    job.state = MlJobState::Done;
                    job.result = Some(answer);
                }
                Err(e) => {
                    job.state = MlJobState::Failed;
                    job.error = Some(e.problem());
                }
            }
            // What the result holds, to within a receipt's size.
            let size =
                job.result.as_ref().and_then(|r| r.output.fhe()).map_or(0, |f| f.answer.len()) + (64 << 10);
            jobs.held += size;
            if let Some(before) = jobs.sizes.insert(id.to_owned(), size) {
                jobs.held -= before;
            }
            jobs.evict(now, self.max_bytes);
        }
        drop(jobs);
        self.settled.notify_waiters();
    }

    /// The job, once it is no longer running or `wait` has passed.
    async fn wait(&self, id: &str, wait: std::time::Duration) -> Option<MlJob> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the check, so a settle between the two is not missed.
            let settled = self.settled.notified();
            let job = self.get(id)?;
            if job.state != MlJobState::Running || tokio::time::Instant::now() >= deadline {
                return Some(job);
            }
            let _ = tokio::time::timeout_at(deadline, settled).await;
        }
    }

    fn get(&self, id: &str) -> Option<MlJob> {
        self.lock().by_id.get(id).cloned()
    }
}

/// The levels a model is offered at, by its format.
fn levels(m: &RegisteredModel) -> &'static [Privacy] {
    match m.format {
        ModelFormat::Onnx => &[Privacy::Tee],
        ModelFormat::Int8 => &[Privacy::Fhe, Privacy::Hybrid],
        // Language models answer chats (`/v1/chat/completions`), not feature rows.
        ModelFormat::Gguf => &[],
    }
}

/// Refuse a client past its allowance on the costly private-ML routes (429,
/// `Retry-After: 1`).
pub(crate) async fn limited(
    State(g): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    veil_http::limit::enforce(g.ml_limit(), g.now(), veil_protocol::ErrorCode::RequestRateLimited, req, next)
        .await
}

/// `GET /v1/ml/models`.
pub(crate) async fn models(State(g): State<Shared>) -> Json<Value> {
    let set = ParamSet::standard().ok();
    let models: Vec<Value> = g
        .models()
        .iter()
        .filter(|m| !levels(m).is_empty())
        .map(|m| {
            let offered: Vec<Value> = levels(m)
                .iter()
                .map(|p| json!({ "privacy": p, "measured_latency_ms": g.ml_jobs().measured_ms(m.root, *p) }))
                .collect();
            let mut v = json!({
                "id": m.meta.name, "root": m.root, "task": m.meta.task, "classes": m.meta.classes,
                "features": m.features, "format": m.format, "privacy": offered,
                // Sealed at rest: only an attested, allowlisted worker opens it.
                "sealed": m.sealed.is_some(),
            });
            if m.format == ModelFormat::Int8
                && let Some(set) = &set
            {
                v["fhe"] = json!({ "scheme": "bfv", "params": set.name(), "params_hash": set.hash_hex() });
            }
            v
        })
        .collect();
    Json(json!({ "models": models }))
}

/// `POST /v1/ml/models/{id}/inference`.
pub(crate) async fn inference(
    State(g): State<Shared>,
    Path(id): Path<String>,
    body: Result<ApiJson<MlInferenceRequest>, HttpProblem>,
) -> Response {
    let started = Instant::now();
    let r = match body {
        Ok(ApiJson(b)) => accept(&g, &id, b),
        Err(p) => Err(p.into()),
    };
    let r = r.map(|job| {
        let location = format!("/v1/ml/jobs/{}", job.id);
        let mut resp = (StatusCode::ACCEPTED, Json(job)).into_response();
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        resp
    });
    g.respond("/v1/ml/models/{id}/inference", started, r, |p| veil_http::problem_response(p.clone()))
}

/// Check what can be checked, then run the job in the background.
fn accept(g: &Shared, id: &str, body: MlInferenceRequest) -> Result<MlJob, GatewayError> {
    let model = g.model(id)?.clone();
    if !levels(&model).contains(&body.privacy) {
        let offered: Vec<&str> = levels(&model).iter().map(|p| p.as_str()).collect();
        return Err(GatewayError::PrivacyUnsupported(format!(
            "{} is offered at {}, not {}{}",
            model.meta.name,
            if offered.is_empty() {
                "no private-ML level (it answers chats)".into()
            } else {
                offered.join(", ")
            },
            body.privacy,
            if body.privacy == Privacy::Zk {
                " (proofs of inference come from the proof server)"
            } else {
                ""
            }
        )));
    }
    let job = match (body.privacy, body.rows, body.query) {
        (Privacy::Tee, Some(rows), None) => JobRequest::Direct { model: model.root, rows },
        (Privacy::Fhe | Privacy::Hybrid, None, Some(query)) => {
            check_query(&model, &query)?;
            JobRequest::Fhe { model: model.root, query }
        }
        (Privacy::Tee, ..) => {
            return Err(GatewayError::Malformed("tee takes `rows` (and no `query`)".into()));
        }
        (p, ..) => return Err(GatewayError::Malformed(format!("{p} takes `query` (and no `rows`)"))),
    };
    // A job accepted now would only fail later for a reason known now.
    if g.pool().is_full() {
        return Err(GatewayError::Busy { waiting: g.pool().queue_len() });
    }
    let key = (model.root, body.privacy);
    let estimate = g.ml_jobs().measured_ms(model.root, body.privacy).unwrap_or(FIRST_ESTIMATE_MS);
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)
        .map_err(|e| GatewayError::Storage(format!("no randomness for a job id: {e}")))?;
    let accepted = MlJob {
        id: format!("ml_{}", hex::encode(raw)),
        model: model.meta.name.clone(),
        model_root: model.root,
        privacy: body.privacy,
        state: MlJobState::Running,
        created_at: g.now(),
        estimated_completion_ms: estimate.round() as u64,
        result: None,
        error: None,
    };
    g.ml_jobs().admit(accepted.clone())?;
    let (g, id) = (Arc::clone(g), accepted.id.clone());
    tokio::spawn(async move {
        let started = Instant::now();
        let r = match g.pool().dispatch(&job).await {
            Ok((answer, _)) => g.keep(&answer.receipt).await.map(|()| answer),
            Err(e) => Err(e),
        };
        g.ml_jobs().settle(&id, key, started.elapsed().as_secs_f64() * 1000.0, g.now(), r);
    });
    Ok(accepted)
}

/// A query's header, against the model: base64, the parameter set, the input
/// shape, the size. The ciphertexts themselves are decoded by the worker.
fn check_query(model: &RegisteredModel, query: &str) -> Result<(), GatewayError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(query)
        .map_err(|_| GatewayError::BadCiphertext("`query` is not standard base64".into()))?;
    let set = ParamSet::standard().map_err(|e| GatewayError::Storage(e.to_string()))?;
    let shape = Query::shape(&set, &bytes).map_err(|e| match e {
        FheError::TooLarge(_) => GatewayError::CiphertextTooLarge(e.to_string()),
        e => GatewayError::BadCiphertext(e.to_string()),
    })?;
    if shape.features != model.features {
        return Err(GatewayError::BadCiphertext(format!(
            "the query holds rows of {} features; {} takes {}",
            shape.features, model.meta.name, model.features
        )));
    }
    Ok(())
}

/// `POST /v1/ml/proofs/{id}/verify`: a kept receipt (its id is the job result's
/// receipt id) checked as `veil verify` checks it, under the roots and measurements
/// this deployment admits its workers with. A convenience for callers who trust this
/// gateway; whoever does not verifies the receipt offline under their own trust.
pub(crate) async fn verify(State(g): State<Shared>, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    let r = match g.kept_receipt(&id).await {
        Ok(bytes) => {
            let g2 = Arc::clone(&g);
            let checked = tokio::task::spawn_blocking(move || {
                let t = Instant::now();
                let r = veil_verify::verify(&bytes, g2.trust());
                (r, t.elapsed())
            })
            .await;
            match checked {
                Ok((r, took)) => {
                    let ms = (took.as_secs_f64() * 1e6).round() / 1e3;
                    Ok(Json(match r {
                        Ok(report) => json!({
                            "valid": true, "verification_time_ms": ms,
                            "mode": report.verified.receipt.mode, "summary": report.summary(),
                        }),
                        Err(e) => json!({
                            "valid": false, "verification_time_ms": ms, "code": e.code(), "reason": e.to_string(),
                        }),
                    })
                    .into_response())
                }
                Err(_) => Err(GatewayError::Storage("the verification task failed".into())),
            }
        }
        Err(e) => Err(e),
    };
    g.respond("/v1/ml/proofs/{id}/verify", started, r, |p| veil_http::problem_response(p.clone()))
}

#[derive(serde::Deserialize)]
pub(crate) struct JobQuery {
    /// Wait up to this long (ms, at most [`MAX_JOB_WAIT_MS`]) for a running job to
    /// settle before answering: a long poll, so clients need not poll in a loop.
    wait_ms: Option<u64>,
}

/// `GET /v1/ml/jobs/{id}[?wait_ms=N]`.
pub(crate) async fn job(
    State(g): State<Shared>,
    Path(id): Path<String>,
    q: Result<axum::extract::Query<JobQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let started = Instant::now();
    let r = match q {
        Err(e) => Err(GatewayError::Malformed(format!("wait_ms: {e}"))),
        Ok(axum::extract::Query(q)) => {
            let wait = std::time::Duration::from_millis(q.wait_ms.unwrap_or(0).min(MAX_JOB_WAIT_MS));
            g.ml_jobs()
                .wait(&id, wait)
                .await
                .map(|j| Json(j).into_response())
                .ok_or_else(|| GatewayError::MlUnknownJob(id.chars().take(80).collect()))
        }
    };
    g.respond("/v1/ml/jobs/{id}", started, r, |p| veil_http::problem_response(p.clone()))
}

#[cfg(test)]
mod tests {
    use veil_content::Root;
    use veil_protocol::{MlJob, MlJobState, Privacy};

    use super::{MAX_ML_JOBS, MlJobs};
    use crate::GatewayError;

    fn answer() -> veil_protocol::JobResponse {
        let at = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let body = veil_receipt::Receipt::new(veil_receipt::Mode::Plain, Root([1; 32]), Root([2; 32]), at);
        let receipt = veil_receipt::sign(body, &ed25519_dalek::SigningKey::from_bytes(&[5; 32])).unwrap();
        let output =
            veil_protocol::InferenceOutput { model: "m".into(), weights: Root([1; 32]), predictions: vec![] };
        veil_protocol::JobResponse { output: veil_protocol::JobOutput::Predictions(output), receipt }
    }

    fn job(i: usize) -> MlJob {
        MlJob {
            id: format!("ml_{i:032x}"),
            model: "m".into(),
            model_root: Root([1; 32]),
            privacy: Privacy::Fhe,
            state: MlJobState::Running,
            created_at: 0,
            estimated_completion_ms: 1,
            result: None,
            error: None,
        }
    }

    /// Memory is bounded: a full table makes room only by dropping the oldest
    /// finished job, never a running one (its client is still waiting for it).
    #[test]
    fn the_job_table_is_bounded_and_never_drops_a_running_job() {
        let jobs = MlJobs::default();
        for i in 0..MAX_ML_JOBS {
            jobs.admit(job(i)).unwrap();
        }
        assert!(matches!(jobs.admit(job(MAX_ML_JOBS)), Err(GatewayError::Busy { .. })));
        let key = (Root([1; 32]), Privacy::Fhe);
        jobs.settle(&job(7).id, key, 40.0, 0, Ok(answer()));
        jobs.settle(&job(9).id, key, 20.0, 0, Ok(answer()));
        jobs.settle(&job(11).id, key, 0.1, 0, Err(GatewayError::WorkerUnavailable("gone".into())));
        assert_eq!(jobs.get(&job(7).id).unwrap().state, MlJobState::Done);
        assert_eq!(jobs.get(&job(11).id).unwrap().state, MlJobState::Failed);
        jobs.admit(job(MAX_ML_JOBS)).unwrap();
        assert!(jobs.get(&job(7).id).is_none(), "the oldest finished job made room");
        assert!(jobs.get(&job(9).id).is_some() && jobs.get(&job(0).id).is_some());
        // Answers feed the estimate; the refusal does not.
        assert_eq!(jobs.measured_ms(key.0, key.1), Some(0.8 * 40.0 + 0.2 * 20.0));
    }

    /// Results are bounded in bytes and in time: past the byte bound the oldest
    /// finished jobs go, and a finished job expires after its retention; a running
    /// job stays whatever its age.
    #[test]
    fn finished_results_are_bounded_in_bytes_and_time() {
        // Each failed job holds 64 KiB of accounting; a bound of 150 KiB keeps two.
        let jobs = MlJobs::holding(150 << 10);
        let key = (Root([1; 32]), Privacy::Fhe);
        let gone = || Err(GatewayError::WorkerUnavailable("gone".into()));
        for i in 0..4 {
            jobs.admit(job(i)).unwrap();
        }
        for i in 0..3 {
            jobs.settle(&job(i).id, key, 1.0, 0, gone());
        }
        assert!(jobs.get(&job(0).id).is_none(), "the oldest finished job was dropped");
        assert!(jobs.get(&job(1).id).is_some() && jobs.get(&job(2).id).is_some());
        jobs.settle(&job(1).id, key, 1.0, super::ML_JOB_RETENTION_SECS + 1, gone());
        assert!(jobs.get(&job(1).id).is_none() && jobs.get(&job(2).id).is_none(), "expired");
        assert_eq!(jobs.get(&job(3).id).unwrap().state, MlJobState::Running, "a running job stays");
    }

    /// A long poll answers with the settled job as soon as it settles, and with the
    /// running job when it does not wait.
    #[tokio::test]
    async fn a_long_poll_returns_the_job_once_it_settles() {
        let jobs = std::sync::Arc::new(MlJobs::default());
        jobs.admit(job(1)).unwrap();
        let id = job(1).id;
        let now = jobs.wait(&id, std::time::Duration::ZERO).await.unwrap();
        assert_eq!(now.state, MlJobState::Running);
        let settler = {
            let (jobs, id) = (jobs.clone(), id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let key = (Root([1; 32]), Privacy::Fhe);
                jobs.settle(&id, key, 20.0, 0, Err(GatewayError::WorkerUnavailable("gone".into())));
            })
        };
        let settled = jobs.wait(&id, std::time::Duration::from_secs(60)).await.unwrap();
        assert_eq!(settled.state, MlJobState::Failed);
        settler.await.unwrap();
        assert!(jobs.wait("ml_nope", std::time::Duration::from_secs(1)).await.is_none());
    }
}
