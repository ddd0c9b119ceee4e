//! Federated rounds through the gateway: owners and clients speak to the gateway,
//! which relays `/v1/fl/…` to the worker that aggregates — the pool's first live
//! slot, so every round of every federation meets at one enclave. The gateway adds no
//! trust: the worker checks every signature, and the round's receipt is the
//! worker's. A worker that restarts forgets its rounds (its replacement answers
//! `fl.unknown_round`) and the owner starts the round again.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::GatewayError;
use crate::gateway::Shared;

/// A relayed request waits this long (a client's long poll for its stage input at
/// the worker is shorter).
const RELAY_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) async fn relay(State(g): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let Some(url) = g.pool().aggregator() else {
        return GatewayError::WorkerUnavailable("no worker is running to aggregate".into()).into_response();
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = g
        .pool()
        .http()
        .request(method, format!("{url}{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .timeout(RELAY_TIMEOUT)
        .body(body);
    let answer = match req.send().await {
        Ok(a) => a,
        Err(e) => {
            return GatewayError::WorkerUnavailable(format!("the aggregating worker did not answer: {e}"))
                .into_response();
        }
    };
    let status = answer.status();
    let kind = answer.headers().get(header::CONTENT_TYPE).cloned();
    match answer.bytes().await {
        Ok(bytes) => {
            let mut resp = (status, bytes).into_response();
            if let Some(kind) = kind {
                resp.headers_mut().insert(header::CONTENT_TYPE, kind);
            } else {
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            resp
        }
        Err(e) => GatewayError::WorkerUnavailable(format!("the aggregating worker's answer broke off: {e}"))
            .into_response(),
    }
}
