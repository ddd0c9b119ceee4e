//! S3-compatible object stores through the `object_store` crate.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;
use veil_content::{Root, RootHasher, SegmentTree, SegmentTreeBuilder};
use veil_fs::AtomicFile;
use zeroize::Zeroizing;

use crate::{
    Put, StoreError, VerifiedSegment, blob_key, check_root, check_same, check_segment, decode_sidecar,
    encode_sidecar,
};

/// Blobs up to this size go up in one request; larger ones as multipart uploads.
const SINGLE_PUT_MAX: u64 = 8 << 20;
const PART_SIZE: usize = 8 << 20;

/// Where and how to reach the bucket. Credentials come from the caller (a file the
/// binary reads), never from this crate looking at the environment.
#[derive(Clone)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (may be empty).
    pub prefix: String,
    /// Endpoint URL for non-AWS services (MinIO, Garage, s3s, 0G gateways…).
    pub endpoint: Option<String>,
    /// Region (any string for most non-AWS services).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key; wiped on drop.
    pub secret_access_key: Zeroizing<String>,
    /// Permit plain HTTP (only sensible on loopback or inside a trusted network).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A blob store in an S3-compatible bucket.
#[derive(Clone)]
pub struct S3Store {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Store(s3://{}/{})", self.bucket, self.prefix)
    }
}

fn backend(e: object_store::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl S3Store {
    /// Connect (lazily: no request is made until the first operation).
    pub fn new(cfg: &S3Config) -> Result<Self, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(StoreError::Config("bucket name is empty".into()));
        }
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(cfg.secret_access_key.as_str())
            .with_allow_http(cfg.allow_http);
        if let Some(ep) = &cfg.endpoint {
            b = b.with_endpoint(ep);
        }
        let store = b.build().map_err(|e| StoreError::Config(e.to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.trim_matches('/').to_owned(),
        })
    }

    fn key(&self, kind: &str, root: &Root) -> ObjectPath {
        let (fan, hex) = blob_key(root);
        let key = if self.prefix.is_empty() {
            format!("{kind}/{fan}/{hex}")
        } else {
            format!("{}/{kind}/{fan}/{hex}", self.prefix)
        };
        ObjectPath::from(key)
    }

    fn not_found(root: &Root) -> impl FnOnce(object_store::Error) -> StoreError + '_ {
        move |e| match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound(*root),
            e => backend(e),
        }
    }

    async fn blob_stream(
        &self,
        root: &Root,
    ) -> Result<futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>, StoreError> {
        let got = self.store.get(&self.key("blobs", root)).await.map_err(Self::not_found(root))?;
        Ok(got.into_stream())
    }

    /// Store a file: one pass to name it, one to upload it (hashed again, so a file
    /// that changes underneath is refused rather than stored under a wrong name).
    pub async fn put_path(&self, path: &Path) -> Result<Put, StoreError> {
        let p = path.to_path_buf();
        let tree = tokio::task::spawn_blocking(move || -> Result<SegmentTree, StoreError> {
            let f = std::fs::File::open(&p)?;
            let size = f.metadata()?.len();
            Ok(SegmentTree::build(f, size)?)
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
        let put = Put { root: tree.root(), size: tree.layout().size };
        self.put_sidecar(&tree).await?;
        let key = self.key("blobs", &put.root);
        let mut file = tokio::fs::File::open(path).await?;
        let mut hasher = RootHasher::new();
        if put.size <= SINGLE_PUT_MAX {
            let mut data = Vec::with_capacity(put.size as usize);
            file.read_to_end(&mut data).await?;
            hasher.update(&data);
            Self::same_file(&put, hasher)?;
            self.store.put(&key, PutPayload::from(data)).await.map_err(backend)?;
            return Ok(put);
        }
        let upload = self.store.put_multipart(&key).await.map_err(backend)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            w.wait_for_capacity(2).await.map_err(backend)?;
            w.write(&buf[..n]);
        }
        if let Err(e) = Self::same_file(&put, hasher) {
            w.abort().await.map_err(backend)?;
            return Err(e);
        }
        // Completing the upload is the atomic step: until then, no object exists.
        w.finish().await.map_err(backend)?;
        Ok(put)
    }

    /// Store a stream: spooled to a private temporary file first, because the object's
    /// name (its root) must be known before the upload starts.
    pub async fn put_reader(
        &self,
        mut input: impl std::io::Read + Send + 'static,
    ) -> Result<Put, StoreError> {
        let spool = tokio::task::spawn_blocking(move || -> Result<tempfile::NamedTempFile, StoreError> {
            let mut f = tempfile::NamedTempFile::new()?;
            std::io::copy(&mut input, f.as_file_mut())?;
            Ok(f)
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
        self.put_path(spool.path()).await
    }

    fn same_file(put: &Put, hasher: RootHasher) -> Result<(), StoreError> {
        match hasher.finalize() {
            Ok(r) if r == put.root => Ok(()),
            _ => Err(StoreError::Io(std::io::Error::other("the file changed while it was being stored"))),
        }
    }

    /// Store bytes held in memory.
    pub async fn put_bytes(&self, data: Vec<u8>) -> Result<Put, StoreError> {
        let mut b = SegmentTreeBuilder::new();
        b.update(&data);
        let tree = b.finish()?;
        let put = Put { root: tree.root(), size: tree.layout().size };
        self.put_sidecar(&tree).await?;
        self.store.put(&self.key("blobs", &put.root), PutPayload::from(data)).await.map_err(backend)?;
        Ok(put)
    }

    async fn put_sidecar(&self, tree: &SegmentTree) -> Result<(), StoreError> {
        let key = self.key("segments", &tree.root());
        self.store.put(&key, PutPayload::from(encode_sidecar(tree))).await.map_err(backend)?;
        Ok(())
    }

    /// Fetch into `dest`, which appears only if the whole blob verifies.
    pub async fn get_to_path(&self, root: &Root, dest: &Path) -> Result<u64, StoreError> {
        let mut out = AtomicFile::create(dest)?;
        let mut stream = self.blob_stream(root).await?;
        let mut h = RootHasher::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(backend)?;
            h.update(&chunk);
            out.write_all(&chunk)?;
        }
        let size = h.size();
        check_root(root, h)?;
        out.commit()?;
        Ok(size)
    }

    /// Fetch into memory, verified; refuses blobs over `max` bytes before reading.
    pub async fn get_bytes(&self, root: &Root, max: u64) -> Result<Vec<u8>, StoreError> {
        let key = self.key("blobs", root);
        let meta = self.store.head(&key).await.map_err(Self::not_found(root))?;
        if meta.size > max {
            return Err(StoreError::TooLarge { root: *root, size: meta.size, max });
        }
        let data =
            self.store.get(&key).await.map_err(Self::not_found(root))?.bytes().await.map_err(backend)?;
        if data.len() as u64 > max {
            return Err(StoreError::TooLarge { root: *root, size: data.len() as u64, max });
        }
        let mut h = RootHasher::new();
        h.update(&data);
        check_root(root, h)?;
        Ok(data.to_vec())
    }

    async fn tree(&self, root: &Root) -> Result<SegmentTree, StoreError> {
        let side = self.key("segments", root);
        if let Ok(got) = self.store.get(&side).await
            && let Some(tree) = got.bytes().await.ok().and_then(|b| decode_sidecar(root, &b))
        {
            return Ok(tree);
        }
        let mut stream = self.blob_stream(root).await?;
        let mut b = SegmentTreeBuilder::new();
        while let Some(chunk) = stream.next().await {
            b.update(&chunk.map_err(backend)?);
        }
        let tree = b.finish()?;
        check_same(root, &tree.root())?;
        self.put_sidecar(&tree).await?;
        Ok(tree)
    }

    /// One segment with its proof, checked against `root`.
    pub async fn get_segment(&self, root: &Root, index: u64) -> Result<VerifiedSegment, StoreError> {
        let tree = self.tree(root).await?;
        let proof = tree.proof(index)?;
        let range = tree.layout().segment_data_range(index);
        let data = if range.is_empty() {
            Vec::new()
        } else {
            self.store
                .get_range(&self.key("blobs", root), range)
                .await
                .map_err(Self::not_found(root))?
                .to_vec()
        };
        check_segment(root, data, proof)
    }

    /// Whether the blob exists (not verified).
    pub async fn contains(&self, root: &Root) -> Result<bool, StoreError> {
        match self.store.head(&self.key("blobs", root)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }
}
