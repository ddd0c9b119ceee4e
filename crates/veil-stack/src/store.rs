//! An S3 store from its URL, a credentials file and endpoint options (what `--store
//! s3://…` means on the command line).

use std::path::Path;

use veil_store::{S3Config, S3Store, Store};
use zeroize::Zeroizing;

use crate::{Result, StackError};

/// How to reach an S3-compatible service.
#[derive(Debug, Clone)]
pub struct S3Options<'a> {
    /// Endpoint URL for non-AWS services (MinIO, Garage, …).
    pub endpoint: Option<&'a str>,
    /// The region.
    pub region: &'a str,
    /// A file (mode 0600) with `access_key_id = …` and `secret_access_key = …` lines.
    pub credentials: Option<&'a Path>,
    /// Allow a plain-HTTP endpoint (loopback or trusted networks only).
    pub allow_http: bool,
}

/// The store at `url` (`s3://BUCKET[/PREFIX]`).
pub fn open_s3(url: &str, opts: &S3Options<'_>) -> Result<Store> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| StackError::Config(format!("{url}: an S3 store is s3://BUCKET[/PREFIX]")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(path) = opts.credentials else {
        return Err(StackError::Config("an s3:// store needs --s3-credentials FILE".into()));
    };
    let (access_key_id, secret_access_key) = read_credentials(path)?;
    if opts.endpoint.is_some_and(|e| e.starts_with("http://")) && !opts.allow_http {
        return Err(StackError::Config(
            "the S3 endpoint is plain HTTP; pass --s3-allow-http if that is intended".into(),
        ));
    }
    Ok(Store::S3(S3Store::new(&S3Config {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        endpoint: opts.endpoint.map(str::to_owned),
        region: opts.region.to_owned(),
        access_key_id,
        secret_access_key,
        allow_http: opts.allow_http,
    })?))
}

/// The key id and secret from a credentials file others cannot read.
fn read_credentials(path: &Path) -> Result<(String, Zeroizing<String>)> {
    veil_fs::check_private(path)?;
    let bytes = Zeroizing::new(veil_fs::read_limited(path, 64 << 10)?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| StackError::Config(format!("{} is not UTF-8", path.display())))?;
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("access_key_id", v)) => id = Some(v.to_owned()),
            Some(("secret_access_key", v)) => secret = Some(Zeroizing::new(v.to_owned())),
            _ => {
                return Err(StackError::Config(format!(
                    "{}: unrecognised line (expected access_key_id = … or secret_access_key = …)",
                    path.display()
                )));
            }
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(StackError::Config(format!(
            "{} must set both access_key_id and secret_access_key",
            path.display()
        ))),
    }
}
