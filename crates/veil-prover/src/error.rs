//! Why the proof server refuses: one type for every route, mapped to a status and a
//! stable code in exactly one place ([`ProverError::problem`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use veil_protocol::{ErrorCode, Problem};
use veil_zk::ZkError;

/// A refusal by the proof server.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// The statement, proof or circuit was refused by the zk layer.
    #[error(transparent)]
    Zk(#[from] ZkError),
    /// The body or query does not parse.
    #[error("{0}")]
    Malformed(String),
    /// The body extractor refused the body (400, 413 or 415): its document as is.
    #[error("{0}")]
    Body(Problem),
    /// A sealed statement's nonce was used before.
    #[error("this sealed statement was submitted before; seal a new one with a fresh nonce")]
    Replayed,
    /// A sealed statement past its expiry.
    #[error("the sealed statement expired at {expires_at} (now {now})")]
    Expired {
        /// Its expiry.
        expires_at: u64,
        /// The prover's clock.
        now: u64,
    },
    /// No such proof job, or not for this capability.
    #[error("no proof job {0:?} for this capability")]
    UnknownJob(String),
    /// Only a queued job can be cancelled.
    #[error("only a queued job can be cancelled")]
    NotCancellable,
    /// The job has no proof yet.
    #[error("the job has no proof yet")]
    NotDone,
    /// The prover runs without a TEE, so it cannot answer attestation challenges.
    #[error("attestation (this prover runs without a TEE)")]
    NotAttested,
    /// A task of the server's own failed.
    #[error("the {0} task failed")]
    Internal(&'static str),
}

/// The stable code of a zk-layer refusal.
pub fn zk_code(e: &ZkError) -> ErrorCode {
    match e {
        ZkError::False(_) => ErrorCode::ZkStatementFalse,
        ZkError::Input(_) => ErrorCode::ZkBadInput,
        ZkError::Poseidon(_) => ErrorCode::ZkPoseidon,
        ZkError::Groth16(_) => ErrorCode::ZkGroth16,
        ZkError::Malformed { .. } => ErrorCode::ZkMalformed,
        ZkError::Busy => ErrorCode::ZkBusy,
        ZkError::Unsupported(_) => ErrorCode::ZkUnknownCircuit,
    }
}

impl ProverError {
    /// The one place a proof-server refusal becomes a status and a code.
    pub fn problem(&self) -> Problem {
        let (status, code) = match self {
            Self::Zk(e) => (
                match e {
                    ZkError::False(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    ZkError::Input(_) | ZkError::Malformed { .. } | ZkError::Poseidon(_) => {
                        StatusCode::BAD_REQUEST
                    }
                    ZkError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                    ZkError::Unsupported(_) => StatusCode::NOT_FOUND,
                    ZkError::Groth16(_) => StatusCode::INTERNAL_SERVER_ERROR,
                },
                zk_code(e),
            ),
            Self::Malformed(_) => (StatusCode::BAD_REQUEST, ErrorCode::RequestMalformed),
            Self::Body(p) => return p.clone(),
            Self::Replayed => (StatusCode::CONFLICT, ErrorCode::RequestReplayed),
            Self::Expired { .. } => (StatusCode::UNAUTHORIZED, ErrorCode::RequestExpired),
            Self::UnknownJob(_) => (StatusCode::NOT_FOUND, ErrorCode::ZkUnknownJob),
            Self::NotCancellable => (StatusCode::CONFLICT, ErrorCode::ZkNotCancellable),
            Self::NotDone => (StatusCode::CONFLICT, ErrorCode::ZkNotDone),
            Self::NotAttested => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ZkNotAttested),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::ZkInternal),
        };
        Problem::new(status, code, self.to_string())
    }
}

impl From<veil_http::HttpProblem> for ProverError {
    fn from(p: veil_http::HttpProblem) -> Self {
        Self::Body(p.0)
    }
}

impl IntoResponse for ProverError {
    fn into_response(self) -> Response {
        veil_http::problem_response(self.problem())
    }
}
