//! `veil sim-tee`: the development PKI and measurements of the simulated TEE.

use std::path::Path;

use anyhow::Result;
use veil_sim_tee::SimMeasurement;

use crate::cli::SimTeeCommand;

/// What a simulated worker with these inputs measures.
pub fn measure(binary: &Path, config: &Path, model_root: &veil_content::Root) -> Result<SimMeasurement> {
    let config: serde_json::Value = veil_fs::read_json(config, 1 << 20, "JSON")?;
    Ok(SimMeasurement::of(binary, &config, &model_root.0)?)
}

/// Run `veil sim-tee …`.
pub fn run(command: SimTeeCommand) -> Result<()> {
    match command {
        SimTeeCommand::Init { dir } => init(&dir)?,
        SimTeeCommand::Measure { binary, config, model_root } => {
            outln!("{}", measure(&binary, &config, &model_root)?.measurement_id());
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
