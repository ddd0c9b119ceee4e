//! The log's web view: static pages whose script fetches the log's own read paths
//! (checkpoint, entry bundles, proofs) and verifies everything it shows in the
//! browser — checkpoint signatures with the log key the reader pins, every entry
//! by an inclusion proof, past checkpoints by consistency proofs, a pasted
//! receipt's id, signature and inclusion. The server is not trusted for any of it;
//! what it can still do is omit, which only a monitor that reads every entry sees.
//!
//! Two small indexes help the pages: past checkpoints ([`Log::history`]) and the
//! entries that are not receipts (models, policies, audit heads), found by reading
//! the entry bundles once and then only what was appended since.

use std::sync::{Arc, Mutex};

use axum::extract::Query;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use veil_tlog::{Log, TILE_WIDTH, TilePath, TlogError};

const INDEX_HTML: &str = include_str!("../web/index.html");
const VERIFY_HTML: &str = include_str!("../web/verify.html");
const SCRIPT: &str = include_str!("../web/log.js");
const STYLE: &str = include_str!("../web/log.css");

/// Scripts and styles only from the log itself, no inline script, no framing: an
/// entry's text can never become markup or code (the script writes text nodes).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The most past checkpoints one request returns.
const MAX_HISTORY: usize = 256;
/// The most non-receipt entries one request returns (the newest).
const MAX_NOTABLE: usize = 1000;

/// A leaf that ends like this is a receipt entry (RFC 8785 puts `type` last among a
/// receipt entry's keys), so scanning need not parse it.
const RECEIPT_SUFFIX: &[u8] = br#","type":"receipt"}"#;

/// Non-receipt entries by index, and how far the bundles have been read.
#[derive(Default)]
pub(crate) struct Notable {
    scanned: u64,
    entries: Vec<NotableEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NotableEntry {
    index: u64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize)]
struct NotableList {
    scanned: u64,
    entries: Vec<NotableEntry>,
}

#[derive(Serialize)]
struct History {
    checkpoints: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<usize>,
}

/// Read the bundles appended since the last scan and note each non-receipt entry.
pub(crate) fn refresh(log: &Log, notable: &Mutex<Notable>) -> Result<(u64, Vec<NotableEntry>), TlogError> {
    let mut n = notable.lock().unwrap_or_else(|p| p.into_inner());
    let size = log.snapshot().checkpoint.size;
    while n.scanned < size {
        let bundle = n.scanned / TILE_WIDTH;
        let width = (size - bundle * TILE_WIDTH).min(TILE_WIDTH);
        let tile = TilePath::Entries { index: bundle, width: width as u16 };
        let bytes = log.tile(&tile)?;
        let leaves = veil_tlog::bundle_entries(&bytes)?;
        for (i, leaf) in leaves.iter().enumerate() {
            let index = bundle * TILE_WIDTH + i as u64;
            if index < n.scanned || leaf.ends_with(RECEIPT_SUFFIX) {
                continue;
            }
            let kind = match veil_tlog::decode_entry(leaf) {
                Ok(e) => entry_kind(&e),
                Err(_) => "unknown",
            };
            n.entries.push(NotableEntry { index, kind: kind.into() });
        }
        n.scanned = bundle * TILE_WIDTH + width;
    }
    let skip = n.entries.len().saturating_sub(MAX_NOTABLE);
    Ok((n.scanned, n.entries[skip..].to_vec()))
}

fn entry_kind(e: &veil_protocol::LogEntry) -> &'static str {
    use veil_protocol::LogEntry as E;
    match e {
        E::Receipt { .. } => "receipt",
        E::Model { .. } => "model",
        E::Policy { .. } => "policy",
        E::AuditHead { .. } => "audit_head",
    }
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// The web view's routes, over the state the log's router shares.
pub(crate) fn routes<S>(log: Arc<Log>, notable: Arc<Mutex<Notable>>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let history_log = log.clone();
    Router::new()
        .route("/", get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/verify", get(|| async { page("text/html; charset=utf-8", VERIFY_HTML) }))
        .route("/web/log.js", get(|| async { page("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/web/log.css", get(|| async { page("text/css; charset=utf-8", STYLE) }))
        .route(
            "/v1/log/checkpoints",
            get(move |Query(q): Query<Limit>| async move {
                let limit = q.limit.unwrap_or(MAX_HISTORY).min(MAX_HISTORY);
                let checkpoints = history_log
                    .history(limit)
                    .iter()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect();
                Json(History { checkpoints })
            }),
        )
        .route(
            "/v1/log/notable",
            get(move || async move {
                let (log, notable) = (log.clone(), notable.clone());
                let (scanned, entries) = crate::server::blocking(move || refresh(&log, &notable)).await?;
                Ok::<_, veil_http::HttpProblem>(Json(NotableList { scanned, entries }))
            }),
        )
}
