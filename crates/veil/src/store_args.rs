//! Choosing a store from the command line: a directory (default), or an S3 bucket.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use veil_store::{LocalStore, Store};

#[derive(Args)]
pub struct StoreArgs {
    /// A directory, or `s3://BUCKET[/PREFIX]` (default: the user's data directory).
    #[arg(long, global = true)]
    store: Option<String>,
    /// S3 endpoint URL for non-AWS services (MinIO, Garage, …).
    #[arg(long, global = true)]
    s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, global = true, default_value = "us-east-1")]
    s3_region: String,
    /// File (mode 0600) with `access_key_id = …` and `secret_access_key = …` lines.
    #[arg(long, global = true)]
    s3_credentials: Option<PathBuf>,
    /// Allow plain-HTTP endpoints (loopback or trusted networks only).
    #[arg(long, global = true)]
    s3_allow_http: bool,
}

impl StoreArgs {
    /// The store's directory when it is a local one (the default or `--store DIR`).
    pub fn local_dir(&self) -> Result<Option<PathBuf>> {
        match self.store.as_deref() {
            Some(url) if url.starts_with("s3://") => Ok(None),
            Some(dir) => Ok(Some(PathBuf::from(dir))),
            None => crate::process::data_dir("store", "--store DIR").map(Some),
        }
    }

    pub fn open(&self) -> Result<Store> {
        let Some(dir) = self.local_dir()? else {
            let opts = veil_stack::store::S3Options {
                endpoint: self.s3_endpoint.as_deref(),
                region: &self.s3_region,
                credentials: self.s3_credentials.as_deref(),
                allow_http: self.s3_allow_http,
            };
            return Ok(veil_stack::store::open_s3(self.store.as_deref().unwrap_or_default(), &opts)?);
        };
        Ok(Store::Local(LocalStore::open(&dir).with_context(|| format!("opening store {}", dir.display()))?))
    }
}
