//! Choosing a store from the command line: a directory (default), or an S3 bucket.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use veil_store::{LocalStore, S3Config, S3Store, Store};
use zeroize::Zeroizing;

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
            None => default_store_dir().map(Some),
        }
    }

    pub fn open(&self) -> Result<Store> {
        match self.store.as_deref() {
            Some(url) if url.starts_with("s3://") => self.open_s3(&url["s3://".len()..]),
            Some(dir) => Ok(Store::Local(
                LocalStore::open(Path::new(dir)).with_context(|| format!("opening store {dir}"))?,
            )),
            None => {
                let dir = default_store_dir()?;
                Ok(Store::Local(
                    LocalStore::open(&dir).with_context(|| format!("opening store {}", dir.display()))?,
                ))
            }
        }
    }

    fn open_s3(&self, rest: &str) -> Result<Store> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(cred_path) = &self.s3_credentials else {
            bail!("an s3:// store needs --s3-credentials FILE");
        };
        crate::io::check_private(cred_path)?;
        let text = Zeroizing::new(String::from_utf8(crate::io::read_limited(cred_path, 64 << 10)?)?);
        let (mut id, mut secret) = (None, None);
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("access_key_id", v)) => id = Some(v.to_owned()),
                Some(("secret_access_key", v)) => secret = Some(Zeroizing::new(v.to_owned())),
                _ => bail!(
                    "{}: unrecognised line (expected access_key_id = … or secret_access_key = …)",
                    cred_path.display()
                ),
            }
        }
        let (Some(access_key_id), Some(secret_access_key)) = (id, secret) else {
            bail!(
                "{} must set both access_key_id and secret_access_key",
                cred_path.display()
            );
        };
        if self
            .s3_endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
            && !self.s3_allow_http
        {
            bail!("the S3 endpoint is plain HTTP; pass --s3-allow-http if that is intended");
        }
        let cfg = S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id,
            secret_access_key,
            allow_http: self.s3_allow_http,
        };
        Ok(Store::S3(S3Store::new(&cfg)?))
    }
}

/// `$XDG_DATA_HOME/veil/store` or the platform's equivalent.
pub fn default_store_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "veil")
        .context("cannot find a home directory for the store; pass --store DIR")?;
    Ok(dirs.data_dir().join("store"))
}
