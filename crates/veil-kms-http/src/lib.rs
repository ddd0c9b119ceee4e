//! The key broker over HTTP.
//!
//! Three calls, in the Confidential Containers Trustee shape: `POST /v1/kms/challenge`
//! hands out a single-use nonce; `POST /v1/kms/attest` takes evidence whose runtime
//! data carries that nonce and the enclave's HPKE key, and opens a short session;
//! `POST /v1/kms/resource` releases a key, sealed to the attested HPKE key, to that
//! session. Refusals are `application/problem+json` with the broker's stable codes.
//! [`KmsClient`] is the enclave's side of the same exchange.
#![forbid(unsafe_code)]

mod client;
mod server;

pub use client::{ClientError, KmsClient, evidence_for, evidence_with_purpose, runtime_data};
pub use server::{AttestRequest, Problem, ResourceRequest, router};
