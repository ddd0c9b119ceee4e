//! A witness over HTTP, as C2SP tlog-witness clients call it: `POST
//! /add-checkpoint`, answered with the cosignature line (200), the size the witness
//! holds (409, `text/x.tlog.size`), or a refusal: 400 malformed, 403 not signed by
//! the log, 404 a log the witness does not follow, 422 inconsistent (a fork).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use veil_tlog::{Witness, WitnessError};

#[derive(Clone)]
struct WitnessState {
    witness: Arc<Witness>,
    clock: fn() -> u64,
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

async fn add_checkpoint(State(s): State<WitnessState>, body: Bytes) -> Response {
    let (w, now) = (s.witness.clone(), (s.clock)());
    let r = match tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now)).await {
        Ok(r) => r,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    match r {
        Ok(line) => text(StatusCode::OK, "text/plain; charset=utf-8", line),
        Err(WitnessError::Conflict { held, .. }) => {
            text(StatusCode::CONFLICT, "text/x.tlog.size", format!("{held}\n"))
        }
        Err(e) => {
            let status = match &e {
                WitnessError::Malformed(_) => StatusCode::BAD_REQUEST,
                WitnessError::BadSignature(_) => StatusCode::FORBIDDEN,
                WitnessError::UnknownLog(_) => StatusCode::NOT_FOUND,
                WitnessError::Inconsistent(_) => StatusCode::UNPROCESSABLE_ENTITY,
                WitnessError::Conflict { .. } => StatusCode::CONFLICT,
                WitnessError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if matches!(e, WitnessError::Inconsistent(_)) {
                tracing::error!(error = %e, "a log showed the witness a fork of its history");
            }
            text(status, "text/plain; charset=utf-8", format!("{e}\n"))
        }
    }
}

/// The witness's routes, reading time from `clock` (unix seconds).
pub fn witness_router(witness: Arc<Witness>, clock: fn() -> u64) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 10))
        .with_state(WitnessState { witness, clock })
}
