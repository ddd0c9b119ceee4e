//! RFC 9457 problem documents: every Veil HTTP service refuses with one of these,
//! carrying a stable machine code, and answers malformed bodies the same way.
#![forbid(unsafe_code)]

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:veil:error:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What exactly went wrong.
    pub detail: String,
    /// The stable code (e.g. `attestation.debug`).
    pub code: String,
}

impl Problem {
    /// A problem with `status`, stable `code` and a `detail` for people.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:veil:error:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
        }
    }

    /// The 404 every service answers for routes it does not have.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "request.not_found", "no such endpoint")
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.detail, self.code)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(self)).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        resp
    }
}

/// A JSON body whose rejections are problem documents (`request.malformed`): 415 for
/// another content type, 413 for an oversized body, 400 otherwise.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => {
                let status = match &rejection {
                    JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                Err(Problem::new(status, "request.malformed", rejection.body_text()))
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
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    if status.is_success() {
        serde_json::from_slice(&bytes).map_err(|e| CallError::Transport(format!("unexpected answer: {e}")))
    } else {
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(p) => Err(CallError::Refused(p)),
            Err(_) => Err(CallError::Transport(format!("HTTP {status}"))),
        }
    }
}
