//! `veil worker`: the attested worker process (a simulated TDX guest on machines
//! without the hardware).

use anyhow::{Context, Result};
pub use veil_stack::stack::WorkerOptions as WorkerArgs;
pub use veil_stack::tee::TeeFlags as TeeArgs;

/// Run a worker until interrupted (or until stdin closes, with --exit-with-stdin).
pub fn run(args: WorkerArgs) -> Result<()> {
    crate::init_tracing();
    let exe = crate::current_exe()?;
    let backend = args.tee.backend()?.context(
        "a worker attests: give --sim-tee-seed SEED, or --attester configfs-tsm --measurement HEX",
    )?;
    crate::runtime()?.block_on(async move {
        let worker = veil_stack::stack::start_worker(&args, &backend, &exe, crate::unix_now).await?;
        crate::serve(args.listen, veil_worker::router(worker), args.exit_with_stdin).await
    })
}
