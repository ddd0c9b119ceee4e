//! `veil up`: every role on one machine (see `veil_stack::stack`), until interrupted.

use std::path::PathBuf;

use anyhow::{Context, Result};
use veil_stack::stack::UpOptions;

/// Run `veil up` until interrupted, printing where everything listens.
pub fn run(opts: UpOptions) -> Result<()> {
    let rt = crate::runtime()?;
    rt.block_on(async {
        let stack = veil_stack::stack::start(&opts).await?;
        // One write: a reader that takes only the first line must not break the rest.
        outln!(
            "listening on {}\nkey broker   {}\nchain rpc    {}  (deployment: {})\n\
             workers      {} × simulated TDX, measurement {}\n\
             dev root     {}  (pass it to `veil verify --dev-root` to trust these receipts)",
            stack.gateway,
            stack.kms,
            stack.rpc,
            opts.dir.join("chain/deployment.json").display(),
            opts.workers,
            stack.measurement,
            stack.dev_root.display()
        );
        let _ = tokio::signal::ctrl_c().await;
        stack.shutdown().await;
        Ok(())
    })
}

/// Options for a stack in `dir` whose workers run this executable by default.
pub fn options(dir: PathBuf, listen: std::net::SocketAddr, workers: usize) -> Result<UpOptions> {
    Ok(UpOptions {
        dir,
        listen,
        workers,
        worker_exe: None,
        allow_current_worker: false,
        exe: std::env::current_exe().context("finding this executable")?,
        clock: crate::unix_now,
    })
}

/// The stack's directory default: the user's data directory.
pub fn default_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("dev", "veil", "veil").context("no home directory")?;
    Ok(dirs.data_dir().join("up"))
}

/// `veil up`: the stack in DIR (default: the user's data directory) until interrupted.
pub fn run_command(
    dir: Option<PathBuf>,
    listen: std::net::SocketAddr,
    workers: usize,
    worker_exe: Option<PathBuf>,
    allow_current_worker: bool,
) -> Result<()> {
    let dir = match dir {
        Some(d) => d,
        None => default_dir()?,
    };
    run(UpOptions {
        worker_exe,
        allow_current_worker,
        ..options(dir, listen, workers)?
    })
}
