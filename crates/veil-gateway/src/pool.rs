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

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use veil_protocol::{AttestationResponse, ChatEvent, JobRequest, JobResponse, Problem, WorkerHealth};

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
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

#[derive(Debug, Default)]
struct Slot {
    url: RwLock<Option<String>>,
    inflight: AtomicUsize,
}

/// Counts a job against its worker's slot for as long as it lives.
#[derive(Debug)]
struct Inflight {
    pool: Arc<Pool>,
    slot: usize,
}

impl Inflight {
    fn new(pool: Arc<Pool>, slot: usize) -> Self {
        if let Some(s) = pool.slots.get(slot) {
            s.inflight.fetch_add(1, Ordering::Relaxed);
        }
        Self { pool, slot }
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        if let Some(s) = self.pool.slots.get(self.slot) {
            s.inflight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A streamed chat's events as the worker sends them (NDJSON [`ChatEvent`]s), each
/// line bounded in size and in waiting time.
#[derive(Debug)]
pub struct JobStream {
    resp: reqwest::Response,
    buf: Vec<u8>,
    read: usize,
    idle: Duration,
    _permit: OwnedSemaphorePermit,
    _inflight: Inflight,
}

impl JobStream {
    /// The next event, or `None` when the worker ended the stream.
    pub async fn next(&mut self) -> Result<Option<ChatEvent>, GatewayError> {
        let failed = |why: String| GatewayError::WorkerFailed(format!("the worker's stream broke: {why}"));
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return serde_json::from_slice(&line[..pos])
                    .map(Some)
                    .map_err(|e| failed(format!("an unreadable event: {e}")));
            }
            if self.buf.len() > MAX_ANSWER_BYTES || self.read > 2 * MAX_ANSWER_BYTES {
                return Err(failed(format!("over {MAX_ANSWER_BYTES} bytes")));
            }
            match tokio::time::timeout(self.idle, self.resp.chunk()).await {
                Err(_) => return Err(failed(format!("nothing for {} s", self.idle.as_secs()))),
                Ok(Err(e)) => return Err(failed(e.to_string())),
                Ok(Ok(None)) if self.buf.is_empty() => return Ok(None),
                Ok(Ok(None)) => return Err(failed("it ended inside an event".into())),
                Ok(Ok(Some(chunk))) => {
                    self.read += chunk.len();
                    self.buf.extend_from_slice(&chunk);
                }
            }
        }
    }
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

    /// The worker that aggregates federated rounds: the first slot with one.
    pub fn aggregator(&self) -> Option<String> {
        self.slots.iter().find_map(|s| s.url.read().ok().and_then(|u| u.clone()))
    }

    /// The client workers are called with.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
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

    /// The first slot's worker: the serving marketplace's signer (its chain key is
    /// the service's acknowledged TEE signer), which alone runs marketplace chats.
    pub fn signer(&self) -> Option<String> {
        self.slots.first().and_then(|s| s.url.read().ok().and_then(|u| u.clone()))
    }

    fn pick(&self, avoid: Option<&str>, only_signer: bool) -> Option<(usize, String)> {
        let mut best: Option<(usize, String, usize)> = None;
        for (i, s) in self.slots.iter().enumerate().take(if only_signer { 1 } else { usize::MAX }) {
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

    async fn pick_waiting(&self, avoid: Option<&str>, job: &JobRequest) -> Option<(usize, String)> {
        let deadline = Instant::now() + REPLACEMENT_WAIT;
        let only_signer = matches!(job, JobRequest::Market(_));
        loop {
            if let Some(p) = self.pick(avoid, only_signer) {
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
        let _permit = self.admit().await?;
        let started = Instant::now();
        let mut lost: Option<String> = None;
        for _ in 0..2 {
            let Some((i, url)) = self.pick_waiting(lost.as_deref(), job).await else {
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

    /// A place among the running jobs: at once, after a wait in the queue, or a
    /// refusal when the queue is full.
    /// Whether a job offered now would be refused as [`GatewayError::Busy`]: every
    /// worker's slots taken and the queue full. A hint for refusing early (a job
    /// accepted for later must not fail for a reason known at acceptance); dispatching
    /// still decides.
    pub fn is_full(&self) -> bool {
        self.waiting.load(Ordering::Acquire) >= self.max_queue + self.permits.available_permits()
    }

    async fn admit(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue + self.permits.available_permits() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::Busy { waiting: self.max_queue });
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map_err(|_| unavailable("the gateway is shutting down"))
    }

    /// Run a streamed chat on some worker, queued and retried as [`Pool::dispatch`]
    /// does; the answer's events are read from the returned stream, which keeps the
    /// job's place until it is dropped (dropping it early closes the connection, and
    /// the worker stops generating).
    pub async fn dispatch_stream(self: &Arc<Self>, job: &JobRequest) -> Result<JobStream, GatewayError> {
        let permit = self.admit().await?;
        let mut lost: Option<String> = None;
        for _ in 0..2 {
            let Some((i, url)) = self.pick_waiting(lost.as_deref(), job).await else {
                break;
            };
            let inflight = Inflight::new(self.clone(), i);
            let send = self.http.post(format!("{url}/v1/jobs")).json(job).send();
            let resp = match tokio::time::timeout(self.job_timeout, send).await {
                Err(_) => {
                    return Err(GatewayError::WorkerFailed("the worker did not start answering".into()));
                }
                Ok(Err(e)) if !e.is_timeout() => {
                    tracing::warn!(worker = %url, error = %e, "worker lost before it took the job; retrying once");
                    lost = Some(url);
                    continue;
                }
                Ok(Err(e)) => return Err(GatewayError::WorkerFailed(e.to_string())),
                Ok(Ok(r)) => r,
            };
            let mut stream = JobStream {
                resp,
                buf: Vec::new(),
                read: 0,
                idle: self.job_timeout,
                _permit: permit,
                _inflight: inflight,
            };
            let status = stream.resp.status();
            if !status.is_success() {
                let mut body = Vec::new();
                while let Ok(Ok(Some(c))) = tokio::time::timeout(PROBE_TIMEOUT, stream.resp.chunk()).await {
                    if body.len() + c.len() > MAX_ANSWER_BYTES {
                        break;
                    }
                    body.extend_from_slice(&c);
                }
                return Err(match serde_json::from_slice::<Problem>(&body) {
                    Ok(p) => GatewayError::Worker(p),
                    Err(_) => GatewayError::WorkerFailed(format!("HTTP {status} without a problem document")),
                });
            }
            return Ok(stream);
        }
        Err(unavailable(match lost {
            Some(_) => "the worker was lost before it took the job and no replacement answered",
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
        let (i, url) = self.pick(None, false).ok_or_else(|| unavailable("no worker is running"))?;
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

    /// A full pool says so before a job is offered, as dispatching then refuses it.
    #[tokio::test]
    async fn a_full_pool_says_so_before_refusing() {
        let ok = || StatusCode::OK.into_response();
        let (w, _) = worker(ok, Duration::from_secs(5)).await;
        let pool = Arc::new(Pool::new(1, 0));
        pool.set(0, Some(w));
        assert!(!pool.is_full());
        let held: Vec<_> = (0..super::JOBS_PER_WORKER)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.dispatch(&job()).await })
            })
            .collect();
        while pool.permits.available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(pool.is_full());
        assert!(matches!(pool.dispatch(&job()).await, Err(GatewayError::Busy { .. })));
        for h in held {
            h.abort();
        }
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
        assert!(e.to_string().contains(&format!("over {MAX_ANSWER_BYTES} bytes")), "{e}");
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

    /// A streamed chat holds its place only while someone reads it: a client that goes
    /// away drops the stream, the worker's connection closes (the worker stops
    /// generating when its next delta cannot be sent), and the slot is free again.
    #[tokio::test]
    async fn a_dropped_stream_closes_the_workers_connection_and_frees_its_place() {
        let sent = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(tokio::sync::Notify::new());
        let (s, c) = (sent.clone(), closed.clone());
        let app = Router::new().route(
            "/v1/jobs",
            post(move || {
                let (sent, closed) = (s.clone(), c.clone());
                async move {
                    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
                    tokio::spawn(async move {
                        loop {
                            let line =
                                serde_json::to_vec(&veil_protocol::ChatEvent::Delta("x".into())).unwrap();
                            if tx.send([line, b"\n".to_vec()].concat()).await.is_err() {
                                closed.notify_one();
                                return;
                            }
                            sent.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    });
                    let body = futures::stream::unfold(rx, |mut rx| async move {
                        rx.recv().await.map(|l| (Ok::<_, std::convert::Infallible>(l), rx))
                    });
                    axum::body::Body::from_stream(body).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        // The stream holds one of the pool's places while it is read.
        let pool = Arc::new(Pool::new(1, 0));
        pool.set(0, Some(url));
        let permits = pool.permits.available_permits();
        let mut stream = pool.dispatch_stream(&job()).await.unwrap();
        for _ in 0..3 {
            assert_eq!(stream.next().await.unwrap(), Some(veil_protocol::ChatEvent::Delta("x".into())));
        }
        assert_eq!(pool.running(), 1);
        assert_eq!(pool.permits.available_permits(), permits - 1);
        drop(stream);
        tokio::time::timeout(Duration::from_secs(10), closed.notified())
            .await
            .expect("the worker saw its reader go away");
        assert_eq!(pool.running(), 0, "the slot is free");
        assert_eq!(pool.permits.available_permits(), permits, "the place is free");
        let before = sent.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(sent.load(Ordering::SeqCst), before, "nothing is generated for nobody");
    }
}
