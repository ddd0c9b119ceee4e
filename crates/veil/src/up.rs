//! `veil up`: every role on one machine (see `veil_stack::stack`), until interrupted.

use std::path::PathBuf;

use anyhow::Result;
use veil_stack::stack::UpOptions;

/// `veil up` arguments.
pub type UpArgs = veil_stack::stack::UpFlags;

/// Run `veil up` until interrupted, printing where everything listens.
pub fn run(args: UpArgs) -> Result<()> {
    crate::init_tracing();
    let dir = args.dir.map_or_else(|| crate::process::data_dir("up", "--dir DIR"), Ok)?;
    let opts = UpOptions {
        worker_exe: args.worker_exe,
        allow_current_worker: args.allow_current_worker,
        llm: args.llm,
        database: args.database,
        market: args.market,
        ..options(dir, args.listen, args.workers)?
    };
    crate::runtime()?.block_on(async {
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
    Ok(UpOptions::new(dir, listen, workers, crate::current_exe()?, crate::unix_now))
}
