//! Per-client rate limits on unauthenticated, costly routes: the broker's
//! `/v1/kms/challenge` and `/v1/kms/attest` (verifying evidence costs milliseconds of
//! CPU and every refusal an fsynced audit line), the gateway's private-ML inference and
//! receipt verification (an FHE query costs up to tens of milliseconds of a worker's
//! CPU). A stranger must not be able to spend them without bound.
//!
//! Invariant: a client (an IPv4 address, or an IPv6 /64, which one host can hold
//! whole) gets at most `per_second` of these requests in any one second of the
//! broker's clock. The table holds only the current second's clients, at most
//! [`MAX_CLIENTS`] of them; when it is full a new client is refused for the rest of
//! that second (fail closed), while clients already counted keep their allowance.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Clients tracked within one second.
pub const MAX_CLIENTS: usize = 65_536;

/// The default allowance per client per second.
pub const DEFAULT_PER_SECOND: u32 = 20;

/// Who is asking: an IPv4 address, an IPv6 /64, or (no socket address known) everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    V4(u32),
    V6(u64),
    Unknown,
}

impl From<Option<IpAddr>> for Client {
    fn from(ip: Option<IpAddr>) -> Self {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(a)) => Self::V4(u32::from(a)),
            Some(IpAddr::V6(a)) => Self::V6((u128::from(a) >> 64) as u64),
            None => Self::Unknown,
        }
    }
}

struct Window {
    second: u64,
    counts: HashMap<Client, u32>,
}

/// Requests per client per second.
pub struct RateLimit {
    per_second: u32,
    window: Mutex<Window>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    /// This client used its allowance for this second.
    #[error("more than {0} requests this second from this client; retry in a second")]
    Client(u32),
    /// Too many clients this second to track another.
    #[error("too many clients this second; retry in a second")]
    Table,
}

impl RateLimit {
    /// At most `per_second` requests per client per second (at least one).
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: per_second.max(1),
            window: Mutex::new(Window { second: 0, counts: HashMap::new() }),
        }
    }

    /// Count a request from `ip` at `now` (Unix seconds), or refuse it.
    pub fn check(&self, ip: Option<IpAddr>, now: u64) -> Result<(), Limited> {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.second != now {
            w.second = now;
            w.counts.clear();
        }
        let full = w.counts.len() >= MAX_CLIENTS;
        let client = Client::from(ip);
        match w.counts.get_mut(&client) {
            Some(n) if *n >= self.per_second => Err(Limited::Client(self.per_second)),
            Some(n) => {
                *n += 1;
                Ok(())
            }
            None if full => Err(Limited::Table),
            None => {
                w.counts.insert(client, 1);
                Ok(())
            }
        }
    }
}

/// The refusal of a client past its allowance: 429 with `Retry-After: 1` and a problem
/// document carrying `code`.
pub fn refusal(e: Limited, code: crate::ErrorCode) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let problem = crate::HttpProblem(crate::Problem::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        code,
        e.to_string(),
    ));
    ([(axum::http::header::RETRY_AFTER, "1")], problem).into_response()
}

/// Run `req` through `next` unless its client is past `limit`'s allowance at `now`
/// (unix seconds); then 429 with `code` ([`refusal`]). The client is the peer's
/// address when the server records it (`into_make_service_with_connect_info`),
/// otherwise one shared bucket.
pub async fn enforce(
    limit: &RateLimit,
    now: u64,
    code: crate::ErrorCode,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    match limit.check(peer, now) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::info!(peer = ?peer, %code, "rate limited");
            refusal(e, code)
        }
    }
}
