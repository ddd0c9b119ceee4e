//! `veil log …`: the transparency log's key, server and checkpoints.

use anyhow::Result;
use veil_stack::tlog::{self, LogCommand};

/// Run `veil log …`.
pub fn run(command: LogCommand) -> Result<()> {
    match command {
        LogCommand::Keygen { name, out } => outln!("{}", tlog::new_key(&out, &name)?),
        LogCommand::Token { out } => tlog::new_token(&out)?,
        LogCommand::Serve { dir, key, listen, witness, declare_token } => {
            crate::init_tracing();
            let declare = declare_token.map(|f| tlog::token_digest(&f)).transpose()?;
            let log = tlog::open(&dir, &key, crate::unix_now)?;
            tracing::info!(key = log.verifier_key(), size = log.snapshot().checkpoint.size, "log starting");
            let rt = crate::runtime()?;
            let (app, gather) = tlog::app(log, crate::unix_now, witness, declare);
            if let Some(g) = gather {
                rt.spawn(g);
            }
            rt.block_on(crate::serve(listen, app, false))?;
        }
        LogCommand::Witness { key, log_keys, state, listen } => {
            crate::init_tracing();
            let (app, vkey) = tlog::witness(&key, &log_keys, &state, crate::unix_now)?;
            tracing::info!(key = vkey, "witness starting");
            crate::runtime()?.block_on(crate::serve(listen, app, false))?;
        }
        LogCommand::Checkpoint { url, log_key, out } => {
            let log = tlog::verifier(&log_key)?;
            let cp = crate::runtime()?.block_on(tlog::update_checkpoint_file(&url, &log, &out))?;
            outln!("checkpoint: {} entries, root {} ({})", cp.size, cp.root, cp.origin);
        }
        LogCommand::Anchor { url, log_key, check, ledger } => {
            let log = tlog::verifier(&log_key)?;
            crate::runtime()?.block_on(async {
                let ledger = ledger.connect(crate::unix_now).await?;
                if check {
                    let (size, at) = tlog::check_anchor(&ledger.client, &url, &log).await?;
                    outln!("the anchor of {size} entries (at {at}) is in the log's history");
                } else {
                    let (_, cp) = tlog::fresh_checkpoint(&url, &log, None).await?;
                    match tlog::anchor(&ledger.client, &cp).await? {
                        Some(gas) => outln!("anchored {} entries, root {} ({gas} gas)", cp.size, cp.root),
                        None => outln!("the chain already anchors {} entries or more", cp.size),
                    }
                }
                anyhow::Ok(())
            })?;
        }
        LogCommand::Verify { url, log_key, old, new } => {
            let log = tlog::verifier(&log_key)?;
            let (o, n) = crate::runtime()?.block_on(tlog::consistency_of_files(&url, &log, &old, &new))?;
            outln!("consistent: the tree of {} entries extends the tree of {}", n.size, o.size);
        }
    }
    Ok(())
}
