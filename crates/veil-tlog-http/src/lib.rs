//! The transparency log over HTTP.
//!
//! Read side, as C2SP tlog-tiles clients expect it: `GET /checkpoint` (the signed
//! note), `GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]`. Write and
//! proof side, Veil's own JSON: `POST /v1/log/receipts` (a receipt file; answered once
//! durable with an [`Inclusion`](veil_protocol::Inclusion)), `GET
//! /v1/log/proof/inclusion`, `GET /v1/log/proof/consistency`, `GET
//! /v1/log/entries/{index}`, `GET /v1/log/key`. Refusals are problem documents with
//! `log.*` codes; [`TlogError`](veil_tlog::TlogError) → status in one function.
//! A web view (`GET /`, `GET /verify`) shows recent entries, past checkpoints, models
//! and key-release policy, and verifies all of it, and a pasted receipt, in the
//! browser; `GET /v1/log/checkpoints` and `GET /v1/log/notable` feed it.
//! A witness ([`witness_router`]) speaks C2SP tlog-witness's `POST /add-checkpoint`.
#![forbid(unsafe_code)]

mod client;
mod server;
mod web;
mod witness;

pub use client::{LogClient, LogClientError, WitnessCallError, gather_cosignatures, witness_checkpoint};
pub use server::{Cosigned, LogService, router};
pub use witness::witness_router;
