//! `veil worker`: the attested worker process (a simulated TDX guest on machines
//! without the hardware).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use veil_kms_client::KmsClient;
use veil_sim_tee::SimTdx;
use veil_store::{LocalStore, Store};
use veil_worker::{Worker, WorkerConfig};

use crate::io;

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
    /// The simulated TEE's dev PKI seed (`veil sim-tee init`).
    #[arg(long)]
    pub sim_tee_seed: PathBuf,
    /// Address to serve jobs on (the gateway's side only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Exit when stdin closes (the supervisor holds the other end).
    #[arg(long)]
    pub exit_with_stdin: bool,
}

/// Run a worker until interrupted (or until stdin closes, with --exit-with-stdin).
pub fn run(args: WorkerArgs) -> Result<()> {
    let config: WorkerConfig = serde_json::from_slice(&io::read_limited(&args.config, 1 << 20)?)
        .with_context(|| format!("{} is not a worker config", args.config.display()))?;
    let exe = std::env::current_exe().context("finding this executable")?;
    let measurement = veil_stack::stack::measure_worker(&exe, &config)?;
    let pki = veil_stack::pki::load(&args.sim_tee_seed)?;
    let attester = Arc::new(SimTdx::new(Arc::new(pki), measurement.clone()));
    let store = Store::Local(LocalStore::open(&args.store)?);
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let worker = Worker::start(
            config,
            attester,
            hex::encode(measurement.mr_td()),
            KmsClient::new(args.kms),
            store,
            crate::unix_now,
        )
        .await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        outln!("listening on http://{}", listener.local_addr()?);
        let exit_with_stdin = args.exit_with_stdin;
        let worker = Arc::new(worker);
        tokio::spawn(worker.clone().keep_session());
        axum::serve(listener, veil_worker::router(worker))
            .with_graceful_shutdown(async move {
                let stdin_closed = async {
                    if exit_with_stdin {
                        use tokio::io::AsyncReadExt as _;
                        let mut sink = [0u8; 64];
                        let mut stdin = tokio::io::stdin();
                        while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
                    } else {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = stdin_closed => {}
                }
            })
            .await
            .context("serving")
    })
}
