//! Content-addressed blob stores.
//!
//! A blob's name is its 0G root. Writes are atomic (temp file or multipart upload,
//! then rename or complete); every read is checked against the root before a single
//! byte reaches the caller's destination, so a store can be untrusted storage. Beside
//! each blob the store keeps its segment roots (32 bytes per 256 KiB) so one segment
//! can be served with an inclusion proof without reading the whole blob; that sidecar
//! is itself checked against the root before use.
#![forbid(unsafe_code)]

mod local;
mod s3;

use std::path::Path;

pub use local::LocalStore;
pub use s3::{S3Config, S3Store};
use veil_content::{ContentError, Root, SegmentProof};

/// Errors from a blob store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No blob with this root.
    #[error("blob {0} is not in the store")]
    NotFound(Root),
    /// Stored bytes no longer hash to their name.
    #[error("blob {root} is corrupt: {detail}")]
    Corrupt {
        /// The blob.
        root: Root,
        /// What did not match.
        detail: String,
    },
    /// A blob larger than the caller accepts in memory.
    #[error("blob {root} is {size} bytes, more than the {max} allowed here")]
    TooLarge {
        /// The blob.
        root: Root,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Content addressing refused the data (e.g. empty input).
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Local I/O failed.
    #[error("store I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The object store backend failed.
    #[error("object store: {0}")]
    Backend(String),
    /// Bad store configuration.
    #[error("store configuration: {0}")]
    Config(String),
}

/// What a put stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put {
    /// The blob's root (its name).
    pub root: Root,
    /// Its size in bytes.
    pub size: u64,
}

/// One segment, already checked against the root.
#[derive(Debug, Clone)]
pub struct VerifiedSegment {
    /// The segment's file bytes (without padding).
    pub data: Vec<u8>,
    /// The proof that checked it, for passing on to others.
    pub proof: SegmentProof,
}

/// A blob store: a local directory or an S3-compatible bucket.
#[derive(Debug, Clone)]
pub enum Store {
    /// Files under a directory.
    Local(LocalStore),
    /// Objects in an S3-compatible bucket.
    S3(S3Store),
}

impl Store {
    /// Store a file; returns its root.
    pub async fn put_path(&self, path: &Path) -> Result<Put, StoreError> {
        match self {
            Self::Local(s) => {
                let (s, path) = (s.clone(), path.to_path_buf());
                blocking(move || s.put_path(&path)).await
            }
            Self::S3(s) => s.put_path(path).await,
        }
    }

    /// Store everything a reader yields (e.g. stdin), without holding it in memory.
    pub async fn put_reader(&self, input: impl std::io::Read + Send + 'static) -> Result<Put, StoreError> {
        match self {
            Self::Local(s) => {
                let s = s.clone();
                blocking(move || s.put_reader(input)).await
            }
            Self::S3(s) => s.put_reader(input).await,
        }
    }

    /// Store bytes held in memory.
    pub async fn put_bytes(&self, data: Vec<u8>) -> Result<Put, StoreError> {
        match self {
            Self::Local(s) => {
                let s = s.clone();
                blocking(move || s.put_reader(&data[..])).await
            }
            Self::S3(s) => s.put_bytes(data).await,
        }
    }

    /// Fetch a blob into `dest`, which appears only if the bytes match `root`.
    pub async fn get_to_path(&self, root: &Root, dest: &Path) -> Result<u64, StoreError> {
        match self {
            Self::Local(s) => {
                let (s, root, dest) = (s.clone(), *root, dest.to_path_buf());
                blocking(move || s.get_to_path(&root, &dest)).await
            }
            Self::S3(s) => s.get_to_path(root, dest).await,
        }
    }

    /// Fetch a blob of at most `max` bytes into memory, verified.
    pub async fn get_bytes(&self, root: &Root, max: u64) -> Result<Vec<u8>, StoreError> {
        match self {
            Self::Local(s) => {
                let (s, root) = (s.clone(), *root);
                blocking(move || s.get_bytes(&root, max)).await
            }
            Self::S3(s) => s.get_bytes(root, max).await,
        }
    }

    /// Fetch one 256 KiB segment with its inclusion proof, verified against `root`.
    pub async fn get_segment(&self, root: &Root, index: u64) -> Result<VerifiedSegment, StoreError> {
        match self {
            Self::Local(s) => {
                let (s, root) = (s.clone(), *root);
                blocking(move || s.get_segment(&root, index)).await
            }
            Self::S3(s) => s.get_segment(root, index).await,
        }
    }

    /// Whether a blob with this root is stored (not verified).
    pub async fn contains(&self, root: &Root) -> Result<bool, StoreError> {
        match self {
            Self::Local(s) => Ok(s.blob_path(root).exists()),
            Self::S3(s) => s.contains(root).await,
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Io(std::io::Error::other(e)))?
}

/// The object name of a blob: the root's hex digits, fanned out by the first byte.
pub(crate) fn blob_key(root: &Root) -> (String, String) {
    let hex = root.to_string()[2..].to_owned();
    (hex[..2].to_owned(), hex)
}

/// Sidecar encoding: size (u64 big-endian) then one 32-byte root per segment.
pub(crate) fn encode_sidecar(tree: &veil_content::SegmentTree) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 32 * tree.segment_roots().len());
    out.extend_from_slice(&tree.layout().size.to_be_bytes());
    for r in tree.segment_roots() {
        out.extend_from_slice(r);
    }
    out
}

/// Decode a sidecar and accept it only if it reproduces `root`.
pub(crate) fn decode_sidecar(root: &Root, bytes: &[u8]) -> Option<veil_content::SegmentTree> {
    let (size, rest) = bytes.split_first_chunk::<8>()?;
    if rest.len() % 32 != 0 {
        return None;
    }
    let roots = rest.chunks_exact(32).map(|c| c.try_into().unwrap_or([0u8; 32])).collect();
    let tree = veil_content::SegmentTree::from_parts(u64::from_be_bytes(*size), roots).ok()?;
    (tree.root() == *root).then_some(tree)
}

/// Finish hashing a blob read back from storage and insist it is the one named.
pub(crate) fn check_root(root: &Root, hasher: veil_content::RootHasher) -> Result<(), StoreError> {
    let actual = hasher.finalize().map_err(|e| StoreError::Corrupt { root: *root, detail: e.to_string() })?;
    check_same(root, &actual)
}

/// A blob (or tree) that hashes to `actual` is not the blob named `root`.
pub(crate) fn check_same(root: &Root, actual: &Root) -> Result<(), StoreError> {
    if actual != root {
        return Err(StoreError::Corrupt { root: *root, detail: format!("its bytes hash to {actual}") });
    }
    Ok(())
}

/// Check a fetched segment against the root; a failure means the store is corrupt.
pub(crate) fn check_segment(
    root: &Root,
    data: Vec<u8>,
    proof: SegmentProof,
) -> Result<VerifiedSegment, StoreError> {
    proof
        .verify(root, &data)
        .map_err(|e| StoreError::Corrupt { root: *root, detail: format!("segment {}: {e}", proof.index) })?;
    Ok(VerifiedSegment { data, proof })
}
