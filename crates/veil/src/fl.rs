//! `veil fl …`: federated rounds as owner or client; `veil train`: one model trained
//! in an attested worker.

use anyhow::Result;
use veil_stack::fl::{self, FlCommand};

/// Run `veil fl …`.
pub fn run(command: FlCommand) -> Result<()> {
    let rt = crate::runtime()?;
    match command {
        FlCommand::Key { out } => outln!("{}", fl::new_key(&out)?),
        FlCommand::Status { gateway, federation } => {
            outln!("{}", rt.block_on(fl::status(&gateway, &federation))?)
        }
        FlCommand::Run(o) => rt.block_on(fl::run(&o, crate::unix_now, |l| outln!("{l}")))?,
        FlCommand::Create(o) => outln!("{}", rt.block_on(fl::create(&o, crate::unix_now))?),
        FlCommand::SetAggregator(o) => outln!("{}", rt.block_on(fl::set_aggregator(&o, crate::unix_now))?),
        FlCommand::History { federation, ledger } => {
            rt.block_on(fl::history(&federation, &ledger, crate::unix_now, |l| outln!("{l}")))?
        }
        FlCommand::Join(o) => rt.block_on(fl::join(&o, |l| outln!("{l}")))?,
    }
    Ok(())
}

/// Run `veil train`; prints what was trained and the completed job (JSON).
pub fn train(o: &veil_stack::train::TrainOptions) -> Result<()> {
    outln!("{}", crate::runtime()?.block_on(veil_stack::train::train(o, crate::unix_now))?);
    Ok(())
}
