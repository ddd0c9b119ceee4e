//! Choosing a store from the command line: a directory (default: in the user's data
//! directory, which only the binary looks up), or an S3 bucket.

use anyhow::Result;
pub use veil_stack::store::StoreFlags as StoreArgs;
use veil_store::Store;

/// The user's data directory for the default store, if there is a home.
fn home() -> Option<std::path::PathBuf> {
    crate::process::data_dir("store", "--store DIR").ok()
}

/// The store `args` names.
pub fn open(args: &StoreArgs) -> Result<Store> {
    Ok(args.open(home())?)
}

/// The model registry's index: --index, or models.json in a local store's directory.
pub fn model_index(args: &StoreArgs, index: Option<std::path::PathBuf>) -> Result<std::path::PathBuf> {
    Ok(args.model_index(index, home())?)
}
