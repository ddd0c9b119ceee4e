//! The node over HTTP JSON-RPC (what `veil chain start` serves), for wallets, other
//! processes and `--rpc`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::rpc::Rpc;

/// The largest request body accepted (a batch of large raw transactions).
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// `POST /` answers JSON-RPC requests and batches.
pub fn router(rpc: Rpc) -> Router {
    Router::new().route("/", post(handle)).layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state(rpc)
}

async fn handle(State(rpc): State<Rpc>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim() == "application/json"));
    if !json {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON-RPC requests must be application/json")
            .into_response();
    }
    match tokio::task::spawn_blocking(move || rpc.handle_body(&body)).await {
        Ok(Some(v)) => ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
