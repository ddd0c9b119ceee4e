//! `veil worker`: the attested worker process (a simulated TDX guest on machines
//! without the hardware).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use veil_stack::stack::start_worker;

/// `veil worker` arguments.
#[derive(Args)]
pub struct WorkerArgs {
    /// The measured configuration (JSON: chain_id, inft, models).
    #[arg(long)]
    pub config: PathBuf,
    /// The key broker's URL.
    #[arg(long)]
    pub kms: String,
    /// The local store holding models and sealed data.
    #[arg(long)]
    pub store: PathBuf,
    /// Where evidence comes from.
    #[command(flatten)]
    pub tee: TeeArgs,
    /// Address to serve jobs on (the gateway's side only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Exit when stdin closes (the supervisor holds the other end).
    #[arg(long)]
    pub exit_with_stdin: bool,
}

pub use veil_stack::tee::TeeFlags as TeeArgs;

/// Run a worker until interrupted (or until stdin closes, with --exit-with-stdin).
pub fn run(args: WorkerArgs) -> Result<()> {
    crate::init_tracing();
    let exe = crate::current_exe()?;
    let backend = args.tee.backend()?.context(
        "a worker attests: give --sim-tee-seed SEED, or --attester configfs-tsm --measurement HEX",
    )?;
    crate::runtime()?.block_on(async move {
        let worker =
            start_worker(&args.config, &backend, &exe, args.kms, &args.store, crate::unix_now).await?;
        crate::serve(args.listen, veil_worker::router(worker), args.exit_with_stdin).await
    })
}
