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
    /// Write a registered model's file (verified against its root) to OUT.
    Fetch {
        /// Name or root.
        model: String,
        /// Where to write it.
        out: PathBuf,
    },
}

/// The index: --index, or models.json inside a local store's directory.
fn index_path(store: &StoreArgs, index: Option<PathBuf>) -> Result<PathBuf> {
    match (index, store.local_dir()?) {
        (Some(p), _) => Ok(p),
        (None, Some(dir)) => Ok(dir.join("models.json")),
        (None, None) => anyhow::bail!("an S3 store needs --index FILE for the model names"),
    }
}

/// Run `veil model …`.
pub fn run(store: &StoreArgs, index: Option<PathBuf>, command: ModelCommand) -> Result<()> {
    let rt = crate::runtime()?;
    let index = index_path(store, index)?;
    let mut registry = ModelRegistry::open(store.open()?, &index)?;
    rt.block_on(async {
        match command {
            ModelCommand::Register { name, task, classes, file } => {
                let bytes = veil_fs::read_limited(&file, veil_model::MAX_MODEL_BYTES)?;
                let entry = registry
                    .register(bytes, ModelMeta { name, task, classes })
                    .await
                    .with_context(|| format!("registering {}", file.display()))?;
                outln!("{}", entry.root);
            }
            ModelCommand::List => {
                let all: Vec<_> = registry.list().collect();
                outln!("{}", serde_json::to_string_pretty(&all)?);
            }
            ModelCommand::Fetch { model, out } => {
                let (entry, bytes) = registry.fetch(&model).await?;
                veil_fs::write_atomic(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
                outln!("{} ({} bytes) verified against {}", out.display(), bytes.len(), entry.root);
            }
        }
        anyhow::Ok(())
    })
}
