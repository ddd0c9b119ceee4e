//! The HTTP edge every Veil service shares: problem documents as responses, a JSON
//! body extractor whose rejections are problem documents, per-client rate limits
//! (`limit`), and (feature `client`) decoding a service's answer into its body or its
//! typed refusal.
//!
//! The problem type itself is `veil_protocol::Problem`; only its rendering lives
//! here, so clients and fuzzers never link a web framework.
#![forbid(unsafe_code)]

pub mod limit;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use veil_protocol::{ErrorCode, PROBLEM_JSON, Problem};

/// A problem document as an HTTP response: its status, `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProblem(pub Problem);

impl From<Problem> for HttpProblem {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl IntoResponse for HttpProblem {
    fn into_response(self) -> Response {
        problem_response(self.0)
    }
}

/// `p` as a response.
pub fn problem_response(p: Problem) -> Response {
    let status = p.status_code();
    let mut resp = (status, Json(p)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    resp
}

/// The 404 for routes a service does not have.
pub async fn no_route() -> HttpProblem {
    HttpProblem(Problem::no_route())
}

/// A JSON body whose rejections are problem documents (`request.malformed`): 415 for
/// another content type, 413 for an oversized body, 400 otherwise.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = HttpProblem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => {
                let status = match &rejection {
                    JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                Err(HttpProblem(Problem::new(status, ErrorCode::RequestMalformed, rejection.body_text())))
            }
        }
    }
}

/// Why a call to a Veil service did not return its JSON body.
#[cfg(feature = "client")]
#[derive(Debug)]
pub enum CallError {
    /// The service refused, with its problem document.
    Refused(Problem),
    /// The service could not be reached, or answered outside the protocol.
    Transport(String),
}

/// A service's answer: the JSON body on success, its problem document on refusal.
#[cfg(feature = "client")]
pub async fn answer<T: serde::de::DeserializeOwned>(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, CallError> {
    let resp = sent.map_err(|e| CallError::Transport(e.to_string()))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| CallError::Transport(e.to_string()))?;
    if status.is_success() {
        serde_json::from_slice(&bytes).map_err(|e| CallError::Transport(format!("unexpected answer: {e}")))
    } else {
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(p) => Err(CallError::Refused(p)),
            Err(_) => Err(CallError::Transport(format!("HTTP {status}"))),
        }
    }
}
