//! The inference gateway: the only door users knock on.
//!
//! `POST /v1/infer` takes a wallet-signed request (EIP-712, nonce and expiry; a
//! replayed nonce is refused), finds the token's sealed data on the ledger, and hands
//! the request to an attested worker, which asks the key broker for the token's key
//! (the broker reads `isAuthorized` on chain and audits the decision). The gateway
//! never holds a data key or plaintext: it sees the signed request, the data's root,
//! and the worker's answer (predictions and a signed receipt), which it keeps under
//! the receipt's id. It also speaks KServe's Open Inference Protocol v2 for public
//! models, OpenAI's chat completions (streamed or not) for chats over a token's
//! documents, with an access grant as the API key, and exposes health, Prometheus metrics and its OpenAPI document.
#![forbid(unsafe_code)]

mod chat;
mod client;
mod db;
mod error;
mod fl;
mod gateway;
mod kserve;
mod market;
mod metrics;
mod ml;
mod ollama;
mod openai;
mod openapi;
mod plain;
mod pool;
mod replay;
mod train;

pub use client::{Catalog, CatalogModel, ClientError, GatewayClient, SigningDomain};
pub use db::{DatabaseError, Receipts, connect as connect_database};
pub use error::GatewayError;
pub use gateway::{Gateway, GatewayParts, InferBody, Retention, router};
pub use market::{Market, MarketParts};
pub use metrics::Metrics;
pub use ml::{MAX_JOB_WAIT_MS, MAX_ML_JOBS, ML_REQUESTS_PER_SECOND};
pub use pool::{DEFAULT_JOB_TIMEOUT, JOBS_PER_WORKER, JobStream, MAX_ANSWER_BYTES, Pool};
pub use replay::{PgNonces, Replay, ReplayError, ReplayGuard};
