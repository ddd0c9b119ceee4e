//! What crosses between a user, the gateway and a worker: the EIP-712 signed
//! inference request, the job the gateway hands a worker and its answer, and the
//! table format of a token's data. No I/O here, so the fuzzers reach all of it.
#![forbid(unsafe_code)]

mod proto;
mod table;

pub use proto::*;
pub use table::{Table, TableError};
