//! The workers the gateway dispatches to, a bounded queue in front of them, and one
//! retry when a job provably did not run.
//!
//! Invariant: one signed request runs at most once. A job is sent again only when the
//! first worker never took it (the connection was refused or reset before it answered
//! anything, e.g. the worker died); once a worker has answered (even unreadably) or the
//! call timed out, the job may have run, so the user gets `inference.worker_failed`
//! rather than a second execution. Every call has a deadline and every answer a size
//! bound, so a stuck or hostile worker holds neither a gateway task nor its memory.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use veil_protocol::{AttestationResponse, JobRequest, JobResponse, Problem, WorkerHealth};

use crate::GatewayError;

/// Jobs one worker runs at once (the rest wait in the gateway's queue).
pub const JOBS_PER_WORKER: usize = 4;
/// How long a retry waits for a replacement worker to come up.
const REPLACEMENT_WAIT: Duration = Duration::from_secs(5);
/// How long a worker may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a job may take, by default (key release, data, model, inference).
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(120);
/// How long health and attestation calls may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer a worker may send: a receipt with its quote and collateral is tens
/// of KiB, and outputs are bounded by the request's ids.
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

#[derive(Debug, Default)]
struct Slot {
    url: RwLock<Option<String>>,
    inflight: AtomicUsize,
}

/// The worker pool.
#[derive(Debug)]
pub struct Pool {
    slots: Vec<Slot>,
    http: reqwest::Client,
    job_timeout: Duration,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    /// Exponentially weighted job time, microseconds.
    ewma_us: AtomicU64,
}

fn unavailable(detail: impl Into<String>) -> GatewayError {
    GatewayError::WorkerUnavailable(detail.into())
}

/// A worker answered; or never took the job (it may be sent elsewhere); or may have run
/// it without a usable answer (it must not be sent again).
enum Attempt<T> {
    Answered(Result<(T, Option<String>), GatewayError>),
    NotTaken(String),
    Failed(String),
}

impl Pool {
    /// `workers` empty slots; at most `max_queue` jobs wait beyond those running.
    pub fn new(workers: usize, max_queue: usize) -> Self {
        Self {
            slots: (0..workers).map(|_| Slot::default()).collect(),
            http: reqwest::Client::builder()
                .no_proxy()
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .unwrap_or_default(),
            job_timeout: DEFAULT_JOB_TIMEOUT,
            permits: Arc::new(Semaphore::new(workers.max(1) * JOBS_PER_WORKER)),
            waiting: AtomicUsize::new(0),
            max_queue,
            ewma_us: AtomicU64::new(0),
        }
    }

    /// Give each job `timeout` instead of [`DEFAULT_JOB_TIMEOUT`].
    pub fn with_job_timeout(mut self, timeout: Duration) -> Self {
        self.job_timeout = timeout;
        self
    }

    /// Point slot `i` at a worker (or at none while it restarts).
    pub fn set(&self, i: usize, url: Option<String>) {
        if let Some(slot) = self.slots.get(i)
            && let Ok(mut u) = slot.url.write()
        {
            *u = url;
        }
    }

    /// Slots with a worker.
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.url.read().map(|u| u.is_some()).unwrap_or(false)).count()
    }

    /// Configured worker slots.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Jobs waiting for a worker.
    pub fn queue_len(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Jobs running on workers.
    pub fn running(&self) -> usize {
        self.slots.iter().map(|s| s.inflight.load(Ordering::Relaxed)).sum()
    }

    /// The wait a job arriving now should expect, from measured job times.
    pub fn estimated_wait(&self) -> Duration {
        let per_job = self.ewma_us.load(Ordering::Relaxed);
        let capacity = (self.live().max(1) * JOBS_PER_WORKER) as u64;
        Duration::from_micros(per_job.saturating_mul(self.queue_len() as u64) / capacity)
    }

    /// The measured mean job time.
    pub fn mean_job_time(&self) -> Duration {
        Duration::from_micros(self.ewma_us.load(Ordering::Relaxed))
    }

    fn pick(&self, avoid: Option<&str>) -> Option<(usize, String)> {
        let mut best: Option<(usize, String, usize)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            let Some(url) = s.url.read().ok().and_then(|u| u.clone()) else {
                continue;
            };
            if Some(url.as_str()) == avoid && self.live() > 1 {
                continue;
            }
            let load = s.inflight.load(Ordering::Relaxed);
            if best.as_ref().is_none_or(|b| load < b.2) {
                best = Some((i, url, load));
            }
        }
        best.map(|(i, u, _)| (i, u))
    }

    async fn pick_waiting(&self, avoid: Option<&str>) -> Option<(usize, String)> {
        let deadline = Instant::now() + REPLACEMENT_WAIT;
        loop {
            if let Some(p) = self.pick(avoid) {
                // Right after a loss, the dead worker's own slot is only worth taking
                // once the supervisor has replaced it with a new URL.
                if Some(p.1.as_str()) != avoid {
                    return Some(p);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Run a job on some worker: queued when all are busy, refused when the queue is
    /// full, retried once on another (or a restarted) worker when the first is lost.
    /// The answer comes with the worker's `Server-Timing` stages, when it sent them.
    pub async fn dispatch(&self, job: &JobRequest) -> Result<(JobResponse, Option<String>), GatewayError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue + self.permits.available_permits() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::Busy { waiting: self.max_queue });
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = permit.map_err(|_| unavailable("the gateway is shutting down"))?;
        let started = Instant::now();
        let mut lost: Option<String> = None;
        for _ in 0..2 {
            let Some((i, url)) = self.pick_waiting(lost.as_deref()).await else {
                break;
            };
            match self.attempt::<JobResponse>(i, &url, "/v1/jobs", Some(job)).await {
                Attempt::Answered(r) => {
                    self.record(started.elapsed());
                    return r;
                }
                Attempt::Failed(why) => {
                    tracing::warn!(worker = %url, %why, "a worker took a job and gave no usable answer");
                    return Err(GatewayError::WorkerFailed(format!(
                        "the worker took the job and gave no usable answer ({why}); it was not run again"
                    )));
                }
                Attempt::NotTaken(why) => {
                    tracing::warn!(worker = %url, %why, "worker lost before it took the job; retrying once");
                    // Clear the slot unless the supervisor already replaced it.
                    if let Some(slot) = self.slots.get(i)
                        && let Ok(mut u) = slot.url.write()
                        && u.as_deref() == Some(url.as_str())
                    {
                        *u = None;
                    }
                    lost = Some(url);
                }
            }
        }
        Err(unavailable(match lost {
            Some(_) => "the worker was lost during the job and no replacement answered",
            None => "no worker is running",
        }))
    }

    fn record(&self, took: Duration) {
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        let old = self.ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 { us } else { (old * 7 + us) / 8 };
        self.ewma_us.store(new, Ordering::Relaxed);
    }

    async fn attempt<T: serde::de::DeserializeOwned>(
        &self,
        i: usize,
        url: &str,
        path: &str,
        body: Option<&JobRequest>,
    ) -> Attempt<T> {
        let slot = &self.slots[i];
        slot.inflight.fetch_add(1, Ordering::Relaxed);
        let timeout = if body.is_some() { self.job_timeout } else { PROBE_TIMEOUT };
        let result = async {
            let req = match body {
                Some(b) => self.http.post(format!("{url}{path}")).json(b),
                None => self.http.get(format!("{url}{path}")),
            };
            let mut resp = match tokio::time::timeout(timeout, req.send()).await {
                Err(_) => {
                    return Err(Attempt::Failed(format!("no answer within {} s", timeout.as_secs())));
                }
                // Refused, reset or closed before any answer: the worker never took it.
                Ok(Err(e)) if !e.is_timeout() => return Err(Attempt::NotTaken(e.to_string())),
                Ok(Err(e)) => return Err(Attempt::Failed(e.to_string())),
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            let timing = resp.headers().get("server-timing").and_then(|v| v.to_str().ok()).map(str::to_owned);
            if resp.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
                return Err(Attempt::Failed(format!("an answer over {MAX_ANSWER_BYTES} bytes")));
            }
            let mut bytes = Vec::new();
            let read = async {
                while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
                    if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                        return Err(format!("an answer over {MAX_ANSWER_BYTES} bytes"));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(())
            };
            match tokio::time::timeout(timeout, read).await {
                Err(_) => {
                    return Err(Attempt::Failed(format!("no whole answer within {} s", timeout.as_secs())));
                }
                Ok(Err(e)) => return Err(Attempt::Failed(e)),
                Ok(Ok(())) => {}
            }
            Ok((status, timing, bytes))
        }
        .await;
        slot.inflight.fetch_sub(1, Ordering::Relaxed);
        let (status, timing, bytes) = match result {
            Ok(r) => r,
            Err(a) => return a,
        };
        if status.is_success() {
            match serde_json::from_slice(&bytes) {
                Ok(v) => Attempt::Answered(Ok((v, timing))),
                Err(e) => Attempt::Failed(format!("an unreadable answer: {e}")),
            }
        } else {
            match serde_json::from_slice::<Problem>(&bytes) {
                Ok(p) => Attempt::Answered(Err(GatewayError::Worker(p))),
                Err(_) => Attempt::Failed(format!("HTTP {status} without a problem document")),
            }
        }
    }

    /// Fresh evidence from some worker for `nonce`.
    pub async fn attestation(&self, nonce: &str) -> Result<AttestationResponse, GatewayError> {
        let (i, url) = self.pick(None).ok_or_else(|| unavailable("no worker is running"))?;
        let q: String = nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .then(|| nonce.to_owned())
            .ok_or_else(|| GatewayError::Malformed("nonce must be [A-Za-z0-9_-]".into()))?;
        match self.attempt(i, &url, &format!("/v1/attestation?nonce={q}"), None).await {
            Attempt::Answered(r) => r.map(|(a, _)| a),
            Attempt::NotTaken(e) | Attempt::Failed(e) => {
                Err(unavailable(format!("the worker did not answer: {e}")))
            }
        }
    }

    /// Every worker's own health report.
    pub async fn worker_health(&self) -> Vec<Option<WorkerHealth>> {
        let mut out = Vec::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            let url = s.url.read().ok().and_then(|u| u.clone());
            out.push(match url {
                Some(url) => match self.attempt::<WorkerHealth>(i, &url, "/v1/health", None).await {
                    Attempt::Answered(Ok((h, _))) => Some(h),
                    _ => None,
                },
                None => None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use veil_content::Root;
    use veil_protocol::JobRequest;

    use super::{MAX_ANSWER_BYTES, Pool};
    use crate::GatewayError;

    type Answer = fn() -> axum::response::Response;

    /// A worker that counts the jobs it took and answers each with `answer` after `delay`.
    async fn worker(answer: Answer, delay: Duration) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new().route(
            "/v1/jobs",
            post(move || {
                let h = h.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    answer()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, hits)
    }

    fn job() -> JobRequest {
        JobRequest::Direct { model: Root([7; 32]), rows: vec![vec![1.0]] }
    }

    async fn two_workers(
        answer: Answer,
        delay: Duration,
        timeout: Duration,
    ) -> (Pool, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (a, hits_a) = worker(answer, delay).await;
        let (b, hits_b) = worker(answer, delay).await;
        let pool = Pool::new(2, 4).with_job_timeout(timeout);
        pool.set(0, Some(a));
        pool.set(1, Some(b));
        (pool, hits_a, hits_b)
    }

    fn taken(a: &AtomicUsize, b: &AtomicUsize) -> usize {
        a.load(Ordering::SeqCst) + b.load(Ordering::SeqCst)
    }

    /// Issue 14, finding 9: an unreadable 2xx used to be retried on another worker, so
    /// one signed request could run twice.
    #[tokio::test]
    async fn a_job_a_worker_took_is_never_run_twice() {
        let (pool, a, b) = two_workers(
            || (StatusCode::OK, "{\"not\": \"an answer\"").into_response(),
            Duration::ZERO,
            Duration::from_secs(10),
        )
        .await;
        let e = pool.dispatch(&job()).await.unwrap_err();
        assert!(matches!(e, GatewayError::WorkerFailed(_)), "{e:?}");
        assert_eq!(e.problem().code.as_str(), "inference.worker_failed");
        assert_eq!(taken(&a, &b), 1, "the job ran once");

        // A 5xx that is not a problem document: the same.
        let (pool, a, b) = two_workers(
            || (StatusCode::BAD_GATEWAY, "<html>").into_response(),
            Duration::ZERO,
            Duration::from_secs(10),
        )
        .await;
        assert!(matches!(pool.dispatch(&job()).await, Err(GatewayError::WorkerFailed(_))));
        assert_eq!(taken(&a, &b), 1);
    }

    #[tokio::test]
    async fn a_worker_that_never_answers_holds_the_job_only_until_its_deadline() {
        let ok = || StatusCode::OK.into_response();
        let (pool, a, b) = two_workers(ok, Duration::from_secs(30), Duration::from_millis(200)).await;
        let e = pool.dispatch(&job()).await.unwrap_err();
        assert!(e.to_string().contains("no answer within"), "{e}");
        assert_eq!(taken(&a, &b), 1, "a late job is not sent elsewhere");
    }

    #[tokio::test]
    async fn an_answer_past_the_size_bound_is_refused_unread() {
        let huge = || (StatusCode::OK, vec![b' '; MAX_ANSWER_BYTES + 1]).into_response();
        let (pool, a, b) = two_workers(huge, Duration::ZERO, Duration::from_secs(10)).await;
        let e = pool.dispatch(&job()).await.unwrap_err();
        assert!(e.to_string().contains("over 8388608 bytes"), "{e}");
        assert_eq!(taken(&a, &b), 1);
    }

    #[tokio::test]
    async fn a_job_no_worker_took_goes_to_another() {
        // Slot 0: a port nobody listens on (bound, then closed).
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let refuse = || {
            let p = veil_protocol::Problem::new(
                StatusCode::NOT_FOUND,
                veil_protocol::ErrorCode::InferenceModelUnknown,
                "from the second worker",
            );
            veil_http::problem_response(p)
        };
        let (b, hits_b) = worker(refuse, Duration::ZERO).await;
        let pool = Pool::new(2, 4);
        pool.set(0, Some(closed));
        pool.set(1, Some(b));
        // Whichever slot is picked first, the job reaches the live worker exactly once.
        let e = pool.dispatch(&job()).await.unwrap_err();
        assert!(e.to_string().contains("from the second worker"), "{e}");
        assert_eq!(hits_b.load(Ordering::SeqCst), 1);
    }
}
