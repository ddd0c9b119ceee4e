//! `veil model`: the model registry from the command line. Files live in the store
//! (addressed and verified by their weights root); the index of names sits in a local
//! store's directory, or at --index.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use veil_model::{ModelMeta, ModelRegistry};

use crate::store_args::StoreArgs;

/// `veil model …`.
#[derive(Subcommand)]
pub enum ModelCommand {
    /// Register an ONNX file under a name; prints its weights root.
    Register {
        /// The model's name (a name keeps its root forever).
        #[arg(long)]
        name: String,
        /// What it does.
        #[arg(long, default_value = "")]
        task: String,
        /// Class labels in output order, comma-separated.
        #[arg(long, value_delimiter = ',')]
        classes: Vec<String>,
        /// The ONNX file.
        file: PathBuf,
    },
    /// Print every registered model as JSON.
    List,
    /// Convert a GGUF language model's matrices to Q8_0 (candle's fast CPU format; the
    /// bundled SmolLM2 ships as Q4_1); prints the new file's weights root.
    Quantize {
        /// The target format.
        #[arg(long, value_parser = ["q8_0"])]
        to: String,
        /// The GGUF file.
        input: PathBuf,
        /// Where to write the converted file.
        output: PathBuf,
    },
    /// Write a registered model's file (verified against its root) to OUT.
    Fetch {
        /// Name or root.
        model: String,
        /// Where to write it.
        out: PathBuf,
    },
}

/// Run `veil model …`.
pub fn run(store: &StoreArgs, index: Option<PathBuf>, command: ModelCommand) -> Result<()> {
    let registry = || -> Result<ModelRegistry> {
        Ok(ModelRegistry::open(
            crate::store_args::open(store)?,
            &crate::store_args::model_index(store, index.clone())?,
        )?)
    };
    crate::runtime()?.block_on(async {
        match command {
            ModelCommand::Register { name, task, classes, file } => {
                let mut registry = registry()?;
                let bytes = veil_fs::read_limited(&file, veil_model::MAX_MODEL_BYTES)?;
                let entry = registry
                    .register(bytes, ModelMeta { name, task, classes })
                    .await
                    .with_context(|| format!("registering {}", file.display()))?;
                outln!("{}", entry.root);
            }
            ModelCommand::List => {
                outln!("{}", serde_json::to_string_pretty(&registry()?.list().collect::<Vec<_>>())?);
            }
            ModelCommand::Quantize { to: _, input, output } => quantize(&input, &output)?,
            ModelCommand::Fetch { model, out } => {
                let (entry, bytes) = registry()?.fetch(&model).await?;
                veil_fs::write_atomic(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
                outln!("{} ({} bytes) verified against {}", out.display(), bytes.len(), entry.root);
            }
        }
        anyhow::Ok(())
    })
}

/// `veil model quantize`, under a progress bar over the file's tensors.
fn quantize(input: &std::path::Path, output: &std::path::Path) -> Result<()> {
    let mut reader = std::io::BufReader::new(
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?,
    );
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} tensors")?;
    let pb = indicatif::ProgressBar::new(0).with_message("quantizing to Q8_0").with_style(style);
    let converted = veil_llm::requantize_q8_0(&mut reader, |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    });
    pb.finish_and_clear();
    let (bytes, report) = converted.with_context(|| format!("converting {}", input.display()))?;
    veil_fs::write_atomic(output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    let root = veil_content::root_of(&bytes)?;
    outln!("{root} {} ({} tensors converted, {} kept)", output.display(), report.converted, report.kept);
    Ok(())
}
