//! `veil oracle`: the attestation verifier as a service in its own enclave.

use std::sync::Arc;

use anyhow::{Context, Result};
pub use veil_stack::oracle::OracleOptions as OracleArgs;

/// Serve `GET /v1/attestation`, `POST /v1/statements` and `GET /v1/health` until
/// interrupted.
pub fn run(args: OracleArgs) -> Result<()> {
    crate::init_tracing();
    let backend = args.tee.backend()?.context(
        "the verifier attests: give --sim-tee-seed SEED, or --attester configfs-tsm --measurement HEX",
    )?;
    let (oracle, measurement) =
        veil_stack::oracle::start(&args, &backend, &crate::current_exe()?, crate::unix_now)?;
    tracing::info!(signer = %oracle.address(), %measurement, "attestation verifier starting");
    crate::runtime()?.block_on(crate::serve(args.listen, veil_oracle::router(Arc::new(oracle)), false))
}
