//! `veil log …`: the transparency log's key, server and checkpoints.

use anyhow::{Context, Result};
use veil_stack::tlog::{self, LogCommand};

/// Run `veil log …`.
pub fn run(command: LogCommand) -> Result<()> {
    match command {
        LogCommand::Keygen { name, out } => {
            outln!("{}", tlog::new_key(&out, &name)?);
        }
        LogCommand::Serve { dir, key, listen } => {
            crate::init_tracing();
            let log = tlog::open(&dir, &key, crate::unix_now)?;
            tracing::info!(key = log.verifier_key(), size = log.snapshot().checkpoint.size, "log starting");
            crate::runtime()?.block_on(crate::serve(listen, tlog::app(log, crate::unix_now), false))?;
        }
        LogCommand::Checkpoint { url, log_key, out } => {
            let log = tlog::verifier(&log_key)?;
            let previous = match std::fs::read(&out) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("reading {}", out.display())),
            };
            let (bytes, cp) =
                crate::runtime()?.block_on(tlog::fresh_checkpoint(&url, &log, previous.as_deref()))?;
            veil_fs::write_atomic(&out, &bytes)?;
            outln!("checkpoint: {} entries, root {} ({})", cp.size, cp.root, cp.origin);
        }
        LogCommand::Verify { url, log_key, old, new } => {
            let log = tlog::verifier(&log_key)?;
            let (o, n) = (veil_fs::read_limited(&old, 1 << 16)?, veil_fs::read_limited(&new, 1 << 16)?);
            let (o, n) = crate::runtime()?.block_on(tlog::consistency(&url, &log, &o, &n))?;
            outln!("consistent: the tree of {} entries extends the tree of {}", n.size, o.size);
        }
    }
    Ok(())
}
