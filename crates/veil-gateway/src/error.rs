//! Why the gateway refuses: one type for every route, mapped to a status and a
//! stable code in exactly one place ([`GatewayError::problem`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use veil_protocol::{ErrorCode, Problem, RequestError, TokenId};

use crate::replay::ReplayError;

/// A refusal by the gateway, or one it forwards from a worker.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The body, a query or a path parameter does not parse.
    #[error("{0}")]
    Malformed(String),
    /// The signed request does not verify.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The nonce was used before, or could not be recorded.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A receipt could not be kept.
    #[error("{0}")]
    Storage(String),
    /// No such model is served.
    #[error("no model {0:?} is served here")]
    ModelUnknown(String),
    /// The token does not exist, or has no data.
    #[error("token {token} {reason}")]
    TokenUnknown {
        /// The token.
        token: TokenId,
        /// `does not exist` or `has no data`.
        reason: &'static str,
    },
    /// The ledger could not be read.
    #[error("{0}")]
    Ledger(String),
    /// A KServe v2 tensor does not fit the model.
    #[error("{0}")]
    BadTensor(String),
    /// The queue is full.
    #[error("{waiting} jobs are already waiting; try again shortly")]
    Busy {
        /// The queue's bound.
        waiting: usize,
    },
    /// No worker could run the job.
    #[error("{0}")]
    WorkerUnavailable(String),
    /// A worker took the job and its answer was lost, late or unusable.
    #[error("{0}")]
    WorkerFailed(String),
    /// A worker refused the job: its problem document, forwarded unchanged.
    #[error("{0}")]
    Worker(Problem),
    /// The body extractor refused the body (400, 413 or 415): its document as is.
    #[error("{0}")]
    Body(Problem),
    /// No receipt with that id is kept here.
    #[error("no receipt sha256:{0}")]
    ReceiptNotFound(String),
    /// The transparency log did not take the receipt.
    #[error("the transparency log did not take the receipt: {0}")]
    LogUnavailable(String),
    /// The route needs an API key (an access grant) and the request has none.
    #[error("{0}")]
    Unauthenticated(String),
    /// The request asks for more than its API key allows.
    #[error("{0}")]
    GrantLimit(String),
    /// An FHE query that does not parse, is under other parameters, or is shaped for
    /// another model's input.
    #[error("{0}")]
    BadCiphertext(String),
    /// An FHE query larger than one request may carry.
    #[error("{0}")]
    CiphertextTooLarge(String),
    /// The model is not offered at the privacy level asked for.
    #[error("{0}")]
    PrivacyUnsupported(String),
    /// A training order whose job the chain does not show as the order says.
    #[error("{0}")]
    TrainJobMismatch(String),
    /// A training order that does not parse.
    #[error("{0}")]
    TrainBadOrder(String),
    /// A serving-marketplace API key that is not an SDK key.
    #[error("{0}")]
    MarketBadKey(String),
    /// A serving-marketplace API key that is not the user's, not for this provider,
    /// expired or revoked, or an account that has not acknowledged this provider.
    #[error("{0}")]
    MarketUnauthorized(String),
    /// The user's sub-account cannot pay for the request.
    #[error("the account with this provider can spend {available} wei; this request may cost up to {due} wei with what is unsettled: transfer at least {} wei more", due.saturating_sub(*available))]
    MarketInsufficientBalance {
        /// Wei the request needs (unsettled fees plus its most).
        due: alloy::primitives::U256,
        /// Wei the account can spend.
        available: alloy::primitives::U256,
    },
    /// No chat of that id was answered here.
    #[error("no chat {0} was answered here")]
    MarketUnknownChat(String),
    /// The gateway does not serve the marketplace.
    #[error("this gateway does not serve the marketplace")]
    MarketDisabled,
    /// No private-ML job by that id is known here.
    #[error("no job {0} (it never existed here, or its result was dropped to make room)")]
    MlUnknownJob(String),
}

impl GatewayError {
    /// The one place a gateway refusal becomes a status and a code.
    pub fn problem(&self) -> Problem {
        let (status, code) = match self {
            Self::Malformed(_) => (StatusCode::BAD_REQUEST, ErrorCode::RequestMalformed),
            Self::Request(e) => match e {
                RequestError::Malformed(_) | RequestError::Input(_) | RequestError::TooFar { .. } => {
                    (StatusCode::BAD_REQUEST, e.code())
                }
                RequestError::Signature(_) | RequestError::Expired { .. } => {
                    (StatusCode::UNAUTHORIZED, e.code())
                }
            },
            Self::Replay(ReplayError::Replayed { .. }) => (StatusCode::CONFLICT, ErrorCode::RequestReplayed),
            Self::Replay(ReplayError::Io { .. }) | Self::Storage(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::GatewayStorage)
            }
            Self::Replay(ReplayError::Database(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::GatewayStorage)
            }
            Self::ModelUnknown(_) => (StatusCode::NOT_FOUND, ErrorCode::InferenceModelUnknown),
            Self::TokenUnknown { .. } => (StatusCode::NOT_FOUND, ErrorCode::InferenceTokenUnknown),
            Self::Ledger(_) => (StatusCode::BAD_GATEWAY, ErrorCode::LedgerUnavailable),
            Self::BadTensor(_) => (StatusCode::BAD_REQUEST, ErrorCode::InferenceBadInput),
            Self::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::InferenceBusy),
            Self::WorkerUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::InferenceWorkerUnavailable)
            }
            Self::WorkerFailed(_) => (StatusCode::BAD_GATEWAY, ErrorCode::InferenceWorkerFailed),
            Self::Worker(p) | Self::Body(p) => return p.clone(),
            Self::ReceiptNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::ReceiptNotFound),
            Self::LogUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::GatewayLogUnavailable),
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, ErrorCode::RequestUnauthenticated),
            Self::GrantLimit(_) => (StatusCode::FORBIDDEN, ErrorCode::RequestGrantLimit),
            Self::BadCiphertext(_) => (StatusCode::BAD_REQUEST, ErrorCode::FheBadCiphertext),
            Self::CiphertextTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::FheTooLarge),
            Self::PrivacyUnsupported(_) => (StatusCode::BAD_REQUEST, ErrorCode::MlPrivacyUnsupported),
            Self::MlUnknownJob(_) => (StatusCode::NOT_FOUND, ErrorCode::MlUnknownJob),
            Self::TrainJobMismatch(_) => (StatusCode::CONFLICT, ErrorCode::TrainJobMismatch),
            Self::TrainBadOrder(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::TrainBadOrder),
            Self::MarketBadKey(_) => (StatusCode::BAD_REQUEST, ErrorCode::MarketBadKey),
            Self::MarketUnauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::MarketUnauthorized),
            Self::MarketInsufficientBalance { .. } => {
                (StatusCode::PAYMENT_REQUIRED, ErrorCode::MarketInsufficientBalance)
            }
            Self::MarketUnknownChat(_) => (StatusCode::NOT_FOUND, ErrorCode::MarketUnknownChat),
            Self::MarketDisabled => (StatusCode::NOT_FOUND, ErrorCode::MarketDisabled),
        };
        Problem::new(status, code, self.to_string())
    }
}

impl From<veil_http::HttpProblem> for GatewayError {
    /// A body the extractor refused is malformed; its status (400, 413, 415) is kept
    /// by forwarding the extractor's document as is.
    fn from(p: veil_http::HttpProblem) -> Self {
        Self::Body(p.0)
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        veil_http::problem_response(self.problem())
    }
}
