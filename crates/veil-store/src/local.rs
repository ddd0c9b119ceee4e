//! The local directory store (the default).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use veil_content::{Root, RootHasher, SegmentTree, SegmentTreeBuilder};
use veil_fs::AtomicFile;

use crate::{
    Put, StoreError, VerifiedSegment, blob_key, check_root, check_same, check_segment, decode_sidecar,
    encode_sidecar,
};

const BUF: usize = 1 << 16;

/// Blobs as files: `blobs/ab/abcd…` (named by root), `segments/ab/abcd…` (segment
/// roots), `tmp/` for writes in flight. All on one filesystem, so renames are atomic.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    /// Open (creating if needed) a store rooted at `dir`; directories are 0700.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        for sub in ["blobs", "segments", "tmp"] {
            veil_fs::create_private_dir(&dir.join(sub))?;
        }
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob named `root` lives.
    pub fn blob_path(&self, root: &Root) -> PathBuf {
        let (fan, hex) = blob_key(root);
        self.dir.join("blobs").join(fan).join(hex)
    }

    fn sidecar_path(&self, root: &Root) -> PathBuf {
        let (fan, hex) = blob_key(root);
        self.dir.join("segments").join(fan).join(hex)
    }

    /// Store everything `input` yields.
    pub fn put_reader(&self, mut input: impl Read) -> Result<Put, StoreError> {
        let mut tmp = AtomicFile::create_in(&self.dir.join("tmp"))?;
        let mut tree = SegmentTreeBuilder::new();
        let mut buf = vec![0u8; BUF];
        loop {
            let n = veil_fs::read_full(&mut input, &mut buf)?;
            if n == 0 {
                break;
            }
            tree.update(&buf[..n]);
            tmp.write_all(&buf[..n])?;
        }
        let tree = tree.finish()?;
        let put = Put { root: tree.root(), size: tree.layout().size };
        // Sidecar first: a blob without one is repaired on demand, never the reverse.
        veil_fs::write_atomic(self.sidecar_path_created(&put.root)?, &encode_sidecar(&tree))?;
        tmp.commit_as(&self.blob_path(&put.root))?;
        Ok(put)
    }

    fn sidecar_path_created(&self, root: &Root) -> io::Result<PathBuf> {
        let p = self.sidecar_path(root);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        Ok(p)
    }

    /// Store a file.
    pub fn put_path(&self, path: &Path) -> Result<Put, StoreError> {
        self.put_reader(File::open(path)?)
    }

    fn open_blob(&self, root: &Root) -> Result<File, StoreError> {
        File::open(self.blob_path(root)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(*root),
            _ => e.into(),
        })
    }

    /// Stream the blob into `out`, failing (after the fact) if it does not match.
    fn copy_verified(&self, root: &Root, mut out: impl Write) -> Result<u64, StoreError> {
        let mut f = self.open_blob(root)?;
        let mut h = RootHasher::new();
        let mut buf = vec![0u8; BUF];
        loop {
            let n = veil_fs::read_full(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        let size = h.size();
        check_root(root, h)?;
        Ok(size)
    }

    /// Fetch into `dest`; `dest` is untouched unless the whole blob verifies.
    pub fn get_to_path(&self, root: &Root, dest: &Path) -> Result<u64, StoreError> {
        let mut out = AtomicFile::create(dest)?;
        let size = self.copy_verified(root, &mut out)?;
        out.commit()?;
        Ok(size)
    }

    /// Fetch into memory, verified; refuses blobs over `max` bytes before reading.
    pub fn get_bytes(&self, root: &Root, max: u64) -> Result<Vec<u8>, StoreError> {
        let size = self.open_blob(root)?.metadata()?.len();
        if size > max {
            return Err(StoreError::TooLarge { root: *root, size, max });
        }
        let mut out = Vec::with_capacity(size as usize);
        self.copy_verified(root, &mut out)?;
        Ok(out)
    }

    fn tree(&self, root: &Root) -> Result<SegmentTree, StoreError> {
        if let Some(tree) = std::fs::read(self.sidecar_path(root)).ok().and_then(|b| decode_sidecar(root, &b))
        {
            return Ok(tree);
        }
        // Missing or damaged sidecar: rebuild it from the blob (which must verify).
        let f = self.open_blob(root)?;
        let size = f.metadata()?.len();
        let tree = SegmentTree::build(f, size)?;
        check_same(root, &tree.root())?;
        veil_fs::write_atomic(self.sidecar_path_created(root)?, &encode_sidecar(&tree))?;
        Ok(tree)
    }

    /// One segment with its proof, checked against `root`.
    pub fn get_segment(&self, root: &Root, index: u64) -> Result<VerifiedSegment, StoreError> {
        let tree = self.tree(root)?;
        let proof = tree.proof(index)?;
        let range = tree.layout().segment_data_range(index);
        let mut f = self.open_blob(root)?;
        f.seek(SeekFrom::Start(range.start))?;
        let mut data = vec![0u8; (range.end - range.start) as usize];
        f.read_exact(&mut data).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                StoreError::Corrupt { root: *root, detail: "blob is shorter than its tree".into() }
            }
            _ => e.into(),
        })?;
        check_segment(root, data, proof)
    }
}
