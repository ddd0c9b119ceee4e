//! The key broker over HTTP.
//!
//! Three calls, in the Confidential Containers Trustee shape: `POST /v1/kms/challenge`
//! hands out a single-use nonce; `POST /v1/kms/attest` takes evidence whose runtime
//! data carries that nonce and the enclave's HPKE key, and opens a short session;
//! `POST /v1/kms/resource` releases a key, sealed to the attested HPKE key, to that
//! session. Refusals are `application/problem+json` with the broker's stable codes.
//! Challenges and attestations are rate-limited per client ([`limit`]); serve with
//! connect info so the limit sees peers' addresses.
//! The enclave's side of the same exchange is `veil-kms-client`.
#![forbid(unsafe_code)]

pub use veil_http::limit;
mod server;

pub use limit::RateLimit;
pub use server::{router, router_with_limit};
