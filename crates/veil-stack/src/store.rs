//! Which store a command uses: a directory, or an S3 store from its URL, a credentials
//! file and endpoint options (what `--store s3://…` means on the command line).

use std::path::{Path, PathBuf};

use veil_store::{LocalStore, S3Config, S3Store, Store};
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

/// Choosing a store on the command line: a directory (default), or an S3 bucket.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreFlags {
    /// A directory, or `s3://BUCKET[/PREFIX]` (default: the user's data directory).
    #[arg(long, global = true)]
    pub store: Option<String>,
    /// S3 endpoint URL for non-AWS services (MinIO, Garage, …).
    #[arg(long, global = true)]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, global = true, default_value = "us-east-1")]
    pub s3_region: String,
    /// File (mode 0600) with `access_key_id = …` and `secret_access_key = …` lines.
    #[arg(long, global = true)]
    pub s3_credentials: Option<PathBuf>,
    /// Allow plain-HTTP endpoints (loopback or trusted networks only).
    #[arg(long, global = true)]
    pub s3_allow_http: bool,
}

impl StoreFlags {
    /// The store's directory when it is a local one: `--store DIR`, or else `home`
    /// (the user's data directory, which the caller finds).
    pub fn local_dir(&self, home: Option<PathBuf>) -> Result<Option<PathBuf>> {
        match self.store.as_deref() {
            Some(url) if url.starts_with("s3://") => Ok(None),
            Some(dir) => Ok(Some(PathBuf::from(dir))),
            None => home
                .map(Some)
                .ok_or_else(|| StackError::Config("cannot find a home directory; pass --store DIR".into())),
        }
    }

    /// The model registry's index: `index`, or models.json inside a local store's
    /// directory (`home` as for [`Self::local_dir`]).
    pub fn model_index(&self, index: Option<PathBuf>, home: Option<PathBuf>) -> Result<PathBuf> {
        match (index, self.local_dir(home)?) {
            (Some(p), _) => Ok(p),
            (None, Some(dir)) => Ok(dir.join("models.json")),
            (None, None) => {
                Err(StackError::Config("an S3 store needs --index FILE for the model names".into()))
            }
        }
    }

    /// The store these flags name (`home` as for [`Self::local_dir`]).
    pub fn open(&self, home: Option<PathBuf>) -> Result<Store> {
        let Some(dir) = self.local_dir(home)? else {
            let opts = S3Options {
                endpoint: self.s3_endpoint.as_deref(),
                region: &self.s3_region,
                credentials: self.s3_credentials.as_deref(),
                allow_http: self.s3_allow_http,
            };
            return open_s3(self.store.as_deref().unwrap_or_default(), &opts);
        };
        let local = LocalStore::open(&dir)
            .map_err(|e| StackError::Config(format!("opening store {}: {e}", dir.display())))?;
        Ok(Store::Local(local))
    }
}

/// Check a segment file against `root` with its inclusion proof file (`veil
/// verify-segment`); the segment's index and length.
pub fn verify_segment(root: &veil_content::Root, proof: &Path, segment: &Path) -> Result<(u64, usize)> {
    let proof: veil_content::SegmentProof = veil_fs::read_json(proof, 1 << 20, "a segment proof")?;
    let data = veil_fs::read_limited(segment, veil_content::SEGMENT_SIZE)?;
    proof.verify(root, &data).map_err(|e| StackError::Config(format!("{}: {e}", segment.display())))?;
    Ok((proof.index, data.len()))
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
