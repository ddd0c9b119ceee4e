//! `veil sim-tee`: the development PKI and measurements of the simulated TEE.

use std::path::Path;

use anyhow::Result;

use crate::cli::SimTeeCommand;

/// Run `veil sim-tee …`.
pub fn run(command: SimTeeCommand) -> Result<()> {
    match command {
        SimTeeCommand::Init { dir } => init(&dir)?,
        SimTeeCommand::Measure { binary, config, model_root } => {
            outln!("{}", veil_stack::pki::measure(&binary, &config, &model_root)?.measurement_id());
        }
    }
    Ok(())
}

/// `veil sim-tee init DIR`.
fn init(dir: &Path) -> Result<()> {
    veil_stack::pki::init(dir)?;
    outln!(
        "dev PKI in {}; trust it only by naming {} in a broker's dev_roots",
        dir.display(),
        dir.join("dev-root.pem").display()
    );
    Ok(())
}
