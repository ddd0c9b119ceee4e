//! RFC 9457 problem documents: how every Veil service says no.
//!
//! The type lives here, with no HTTP framework, so that a client decodes a refusal
//! into the same typed [`ErrorCode`] a server produced it from. Rendering it as an
//! HTTP response is the edge's business (`veil-http`).

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::ErrorCode;

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
    pub code: ErrorCode,
}

impl Problem {
    /// A problem with `status`, stable `code` and a `detail` for people.
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:veil:error:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code,
        }
    }

    /// The 404 every service answers for routes it does not have.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::RequestNotFound, "no such endpoint")
    }

    /// The status, as a type (500 when a peer sent a number that is not one).
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.detail, self.code)
    }
}

impl std::error::Error for Problem {}
