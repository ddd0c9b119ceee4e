//! The axum service.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use veil_http::limit::RateLimit;
use veil_http::{HttpProblem, Problem};
use veil_protocol::{ConsistencyProof, ErrorCode, Inclusion, InclusionProof, LogEntry};
use veil_tlog::{Admission, Log, TilePath, TlogError};

/// A receipt with evidence is a few KiB; a megabyte is not a receipt.
const MAX_BODY_BYTES: usize = 1 << 20;

fn status_of(e: &TlogError) -> StatusCode {
    match e {
        TlogError::EntryMalformed(_) | TlogError::BadCheckpoint(_) => StatusCode::BAD_REQUEST,
        TlogError::EntryTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        TlogError::EntryTime { .. } | TlogError::BadProof(_) => StatusCode::UNPROCESSABLE_ENTITY,
        TlogError::BeyondTree { .. } => StatusCode::NOT_FOUND,
        TlogError::StaleCheckpoint { .. } | TlogError::Inconsistent(_) => StatusCode::CONFLICT,
        TlogError::Busy(_) | TlogError::Closed => StatusCode::SERVICE_UNAVAILABLE,
        TlogError::Corrupt(_) | TlogError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn problem(e: TlogError) -> HttpProblem {
    if matches!(e, TlogError::Corrupt(_) | TlogError::Io(_)) {
        tracing::error!(error = %e, "log storage");
    }
    HttpProblem(Problem::new(status_of(&e), e.code(), e.to_string()))
}

/// The log service: the log, its clock and who it admits.
pub struct LogService {
    /// The log.
    pub log: Arc<Log>,
    /// Unix seconds.
    pub clock: fn() -> u64,
    /// How old (or new) a submitted receipt may be.
    pub admission: Admission,
    /// Submissions one client may make per second.
    pub per_second: u32,
    /// The latest checkpoint with witness cosignatures, served in place of the bare
    /// one while it is the latest ([`gather_cosignatures`](crate::gather_cosignatures)
    /// fills it).
    pub cosigned: Arc<Cosigned>,
    /// SHA-256 of the bearer token that may declare entries other than receipts
    /// (model registrations, key-release policies, audit heads) at `POST
    /// /v1/log/entries`; without one, the log takes no declarations.
    pub declare_token: Option<[u8; 32]>,
}

/// A checkpoint note with its witnesses' cosignatures appended, and its tree size.
#[derive(Default)]
pub struct Cosigned(std::sync::RwLock<Option<(u64, Vec<u8>)>>);

impl Cosigned {
    /// The cosigned note and its size, if any.
    pub fn get(&self) -> Option<(u64, Vec<u8>)> {
        self.0.read().ok().and_then(|g| g.clone())
    }

    /// Replace it.
    pub fn set(&self, size: u64, note: Vec<u8>) {
        if let Ok(mut g) = self.0.write() {
            *g = Some((size, note));
        }
    }
}

struct Shared0 {
    service: LogService,
    limit: RateLimit,
}

impl std::ops::Deref for Shared0 {
    type Target = LogService;
    fn deref(&self) -> &LogService {
        &self.service
    }
}

type Shared = Arc<Shared0>;

async fn checkpoint(State(s): State<Shared>) -> Response {
    let snap = s.log.snapshot();
    let note = match s.cosigned.get() {
        Some((size, note)) if size == snap.checkpoint.size => note,
        _ => snap.note.clone(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        note,
    )
        .into_response()
}

async fn tile(State(s): State<Shared>, Path(rest): Path<String>) -> Result<Response, HttpProblem> {
    let t = TilePath::parse(&format!("tile/{rest}")).ok_or_else(|| {
        HttpProblem(Problem::new(StatusCode::NOT_FOUND, ErrorCode::RequestNotFound, "no such tile"))
    })?;
    let log = s.log.clone();
    let bytes = blocking(move || log.tile(&t)).await?;
    // A full tile never changes; a partial one is replaced by wider ones.
    let cache = if u64::from(t.width()) == veil_tlog::TILE_WIDTH {
        "public, max-age=31536000, immutable"
    } else {
        "no-store"
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response())
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TlogError> + Send + 'static,
) -> Result<T, HttpProblem> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(problem),
        Err(_) => Err(problem(TlogError::Closed)),
    }
}

async fn submit_receipt(State(s): State<Shared>, body: Bytes) -> Result<Json<Inclusion>, HttpProblem> {
    let entry = veil_tlog::receipt_entry(&body, (s.clock)(), s.admission).map_err(problem)?;
    append(&s, &entry).await
}

/// A declaration: an entry that is not a receipt, from the holder of the log's
/// declaration token (a receipt verifies on its own; a policy or a model
/// registration is only what its declarer says, so only the operator may say it).
async fn declare(
    State(s): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<Inclusion>, HttpProblem> {
    let unauthenticated = |detail: &str| {
        HttpProblem(Problem::new(StatusCode::UNAUTHORIZED, ErrorCode::RequestUnauthenticated, detail))
    };
    let Some(expected) = s.declare_token else {
        return Err(unauthenticated("this log takes no declarations (it has no declaration token)"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthenticated("a declaration needs `Authorization: Bearer <token>`"))?;
    if veil_tlog::token_digest(presented) != expected {
        return Err(unauthenticated("the declaration token is not this log's"));
    }
    let entry: LogEntry =
        serde_json::from_slice(&body).map_err(|e| problem(TlogError::EntryMalformed(e.to_string())))?;
    if matches!(entry, LogEntry::Receipt { .. }) {
        return Err(problem(TlogError::EntryMalformed(
            "receipts go to /v1/log/receipts, where they are verified".into(),
        )));
    }
    append(&s, &entry).await
}

/// Append `entry` and answer with its inclusion once durable.
async fn append(s: &Shared, entry: &LogEntry) -> Result<Json<Inclusion>, HttpProblem> {
    let leaf = veil_tlog::encode_entry(entry).map_err(problem)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.log
        .submit(
            leaf,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .map_err(problem)?;
    let appended = rx.await.map_err(|_| problem(TlogError::Closed))?.map_err(problem)?;
    let (log, index, size) = (s.log.clone(), appended.index, appended.snapshot.checkpoint.size);
    let proof = blocking(move || log.prove_inclusion(index, size)).await?;
    let checkpoint = String::from_utf8_lossy(&appended.snapshot.note).into_owned();
    Ok(Json(Inclusion { index, checkpoint, proof }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    index: u64,
    size: u64,
}

async fn inclusion(
    State(s): State<Shared>,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<InclusionProof>, HttpProblem> {
    let log = s.log.clone();
    let proof = blocking(move || log.prove_inclusion(q.index, q.size)).await?;
    Ok(Json(InclusionProof { index: q.index, tree_size: q.size, proof }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old: u64,
    new: u64,
}

async fn consistency(
    State(s): State<Shared>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, HttpProblem> {
    let log = s.log.clone();
    let proof = blocking(move || log.prove_consistency(q.old, q.new)).await?;
    Ok(Json(ConsistencyProof { old_size: q.old, new_size: q.new, proof }))
}

async fn entry(State(s): State<Shared>, Path(index): Path<u64>) -> Result<Response, HttpProblem> {
    let log = s.log.clone();
    let bytes = blocking(move || log.entry(index)).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response())
}

async fn key(State(s): State<Shared>) -> String {
    format!("{}\n", s.log.verifier_key())
}

async fn limited(
    State(s): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    veil_http::limit::enforce(&s.limit, (s.clock)(), ErrorCode::RequestRateLimited, req, next).await
}

/// Query strings that do not parse are the caller's fault: a problem document, 400.
async fn bad_query(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::BAD_REQUEST
        && resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
    {
        let detail = match axum::body::to_bytes(resp.into_body(), 4096).await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(_) => "bad query".into(),
        };
        return veil_http::problem_response(Problem::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::RequestMalformed,
            detail,
        ));
    }
    resp
}

/// The log's routes.
pub fn router(service: LogService) -> Router {
    let limit = RateLimit::new(service.per_second);
    let s: Shared = Arc::new(Shared0 { service, limit });
    let notable = Arc::new(std::sync::Mutex::new(crate::web::Notable::default()));
    let submit = Router::new()
        .route("/v1/log/receipts", post(submit_receipt))
        .route("/v1/log/entries", post(declare))
        .route_layer(axum::middleware::from_fn_with_state(s.clone(), limited));
    Router::new()
        .merge(submit)
        .merge(crate::web::routes(s.log.clone(), notable))
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*rest}", get(tile))
        .route("/v1/log/proof/inclusion", get(inclusion))
        .route("/v1/log/proof/consistency", get(consistency))
        .route("/v1/log/entries/{index}", get(entry))
        .route("/v1/log/key", get(key))
        .fallback(veil_http::no_route)
        .layer(axum::middleware::from_fn(bad_query))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(s)
}
