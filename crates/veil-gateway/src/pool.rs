//! The workers the gateway dispatches to, a bounded queue in front of them, and one
//! retry when a worker dies under a job.

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
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    /// Exponentially weighted job time, microseconds.
    ewma_us: AtomicU64,
}

fn unavailable(detail: impl Into<String>) -> GatewayError {
    GatewayError::WorkerUnavailable(detail.into())
}

/// A worker answered, or could not be reached at all (then the job may be retried).
enum Attempt<T> {
    Answered(Result<(T, Option<String>), GatewayError>),
    Lost(String),
}

impl Pool {
    /// `workers` empty slots; at most `max_queue` jobs wait beyond those running.
    pub fn new(workers: usize, max_queue: usize) -> Self {
        Self {
            slots: (0..workers).map(|_| Slot::default()).collect(),
            http: reqwest::Client::builder().no_proxy().build().unwrap_or_default(),
            permits: Arc::new(Semaphore::new(workers.max(1) * JOBS_PER_WORKER)),
            waiting: AtomicUsize::new(0),
            max_queue,
            ewma_us: AtomicU64::new(0),
        }
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
        self.slots
            .iter()
            .filter(|s| s.url.read().map(|u| u.is_some()).unwrap_or(false))
            .count()
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
        self.slots
            .iter()
            .map(|s| s.inflight.load(Ordering::Relaxed))
            .sum()
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
            return Err(GatewayError::Busy {
                waiting: self.max_queue,
            });
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
                Attempt::Lost(why) => {
                    tracing::warn!(worker = %url, %why, "worker lost during a job; retrying once");
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
        let result = async {
            let req = match body {
                Some(b) => self.http.post(format!("{url}{path}")).json(b),
                None => self.http.get(format!("{url}{path}")),
            };
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let timing = resp
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, timing, bytes))
        }
        .await;
        slot.inflight.fetch_sub(1, Ordering::Relaxed);
        let (status, timing, bytes) = match result {
            Ok(r) => r,
            Err(e) => return Attempt::Lost(e),
        };
        if status.is_success() {
            match serde_json::from_slice(&bytes) {
                Ok(v) => Attempt::Answered(Ok((v, timing))),
                Err(e) => Attempt::Lost(format!("unreadable answer: {e}")),
            }
        } else {
            match serde_json::from_slice::<Problem>(&bytes) {
                Ok(p) => Attempt::Answered(Err(GatewayError::Worker(p))),
                Err(_) => Attempt::Lost(format!("HTTP {status} without a problem document")),
            }
        }
    }

    /// Fresh evidence from some worker for `nonce`.
    pub async fn attestation(&self, nonce: &str) -> Result<AttestationResponse, GatewayError> {
        let (i, url) = self
            .pick(None)
            .ok_or_else(|| unavailable("no worker is running"))?;
        let q: String = nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .then(|| nonce.to_owned())
            .ok_or_else(|| GatewayError::Malformed("nonce must be [A-Za-z0-9_-]".into()))?;
        match self
            .attempt(i, &url, &format!("/v1/attestation?nonce={q}"), None)
            .await
        {
            Attempt::Answered(r) => r.map(|(a, _)| a),
            Attempt::Lost(e) => Err(unavailable(format!("the worker did not answer: {e}"))),
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
