//! The key broker over HTTP.
//!
//! Three calls, in the Confidential Containers Trustee shape: `POST /v1/kms/challenge`
//! hands out a single-use nonce; `POST /v1/kms/attest` takes evidence whose runtime
//! data carries that nonce and the enclave's HPKE key, and opens a short session;
//! `POST /v1/kms/resource` releases a key, sealed to the attested HPKE key, to that
//! session. Refusals are `application/problem+json` with the broker's stable codes.
//! The enclave's side of the same exchange is `veil-kms-client`.
#![forbid(unsafe_code)]

mod server;

pub use server::router;
