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

/// Which TEE an attesting role runs on (`veil worker`, `veil zk serve`).
#[derive(Args, Clone)]
pub struct TeeArgs {
    /// `sim`: the simulated TDX guest of a dev PKI (machines without the hardware;
    /// production policy refuses its root). `configfs-tsm`: a real TDX or SEV-SNP
    /// guest, through the kernel's configfs-tsm. Default: `sim` when
    /// `--sim-tee-seed` is given.
    #[arg(long, value_parser = ["sim", "configfs-tsm"])]
    pub attester: Option<String>,
    /// The simulated TEE's dev PKI seed (`veil sim-tee init`), for `--attester sim`.
    #[arg(long)]
    pub sim_tee_seed: Option<PathBuf>,
    /// The configfs-tsm report directory, for `--attester configfs-tsm`.
    #[arg(long, default_value = veil_stack::tee::CONFIGFS_TSM_REPORT)]
    pub tsm_dir: PathBuf,
    /// The reference measurement id (hex) for `--attester configfs-tsm`: the digest
    /// over every register that identifies the software (TDX MRTD and RTMR0–3,
    /// MRCONFIGID, owner fields; SNP MEASUREMENT, HOST_DATA, key digests, VMPL), as
    /// `veil attest verify` prints it for this guest's evidence. The broker's view of
    /// this guest must match it.
    #[arg(long)]
    pub measurement: Option<String>,
}

impl TeeArgs {
    /// The backend these flags name, if any.
    pub fn backend(&self) -> Result<Option<veil_stack::tee::TeeBackend>> {
        Ok(veil_stack::tee::TeeBackend::choose(
            self.attester.as_deref(),
            self.sim_tee_seed.clone(),
            self.tsm_dir.clone(),
            self.measurement.clone(),
        )?)
    }
}

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
