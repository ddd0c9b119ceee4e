//! Segment inclusion proofs: fetch one 256 KiB segment and check it against the root.
//!
//! Segments are aligned perfect subtrees of 1024 chunks (the last one may be smaller),
//! so the file root is also the carry-up tree over segment roots. A proof is the list
//! of siblings on the path from one segment root to the file root; its shape follows
//! from the file size, so a verifier needs nothing else.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::ContentError;
use crate::hash::{Frontier, Hash, Root, leaf, parent};
use crate::layout::{CHUNK_SIZE, Layout, SEGMENT_SIZE};

/// The root of segment `index` given its file bytes (padding is added here).
pub fn segment_root(layout: &Layout, index: u64, data: &[u8]) -> Result<Hash, ContentError> {
    check_segment(layout, index, data.len() as u64)?;
    let mut f = Frontier::default();
    let mut chunks = data.chunks_exact(CHUNK_SIZE);
    for chunk in &mut chunks {
        f.push_leaf(leaf(chunk));
    }
    if !chunks.remainder().is_empty() {
        let mut last = [0u8; CHUNK_SIZE];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        f.push_leaf(leaf(&last));
    }
    f.push_zero_leaves(layout.segment_chunks(index) - f.leaves());
    f.root().ok_or(ContentError::Empty)
}

fn check_segment(layout: &Layout, index: u64, len: u64) -> Result<(), ContentError> {
    let segments = layout.segments();
    if index >= segments {
        return Err(ContentError::NoSuchSegment { index, segments });
    }
    let range = layout.segment_data_range(index);
    let expected = range.end - range.start;
    if len != expected {
        return Err(ContentError::SegmentLength { index, expected, actual: len });
    }
    Ok(())
}

/// The number of siblings on the path of leaf `pos` in a carry-up tree of `count` leaves.
fn path_len(mut pos: u64, mut count: u64) -> usize {
    let mut n = 0;
    while count > 1 {
        if pos % 2 == 1 || pos + 1 < count {
            n += 1;
        }
        pos /= 2;
        count = count.div_ceil(2);
    }
    n
}

/// All segment roots of one file: enough to answer proofs for any segment.
#[derive(Debug, Clone)]
pub struct SegmentTree {
    layout: Layout,
    levels: Vec<Vec<Hash>>,
}

impl SegmentTree {
    /// Read exactly `size` bytes and keep one hash per segment (32 bytes per 256 KiB).
    pub fn build(mut reader: impl Read, size: u64) -> Result<Self, ContentError> {
        let mut builder = SegmentTreeBuilder::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = veil_fs::read_full(&mut reader, &mut buf)?;
            if n == 0 {
                break;
            }
            builder.update(&buf[..n]);
            if builder.size() > size {
                break;
            }
        }
        if builder.size() != size {
            return Err(ContentError::SizeMismatch { expected: size, actual: builder.size() });
        }
        builder.finish()
    }

    /// Rebuild from stored segment roots (e.g. a store's sidecar); the caller must
    /// still compare [`SegmentTree::root`] with the root it trusts.
    pub fn from_parts(size: u64, roots: Vec<Hash>) -> Result<Self, ContentError> {
        let layout = Layout::for_size(size)?;
        if roots.len() as u64 != layout.segments() {
            return Err(ContentError::ProofShape {
                expected: layout.segments() as usize,
                actual: roots.len(),
            });
        }
        Ok(Self::from_segment_roots(layout, roots))
    }

    /// One root per segment, in order.
    pub fn segment_roots(&self) -> &[Hash] {
        &self.levels[0]
    }

    fn from_segment_roots(layout: Layout, roots: Vec<Hash>) -> Self {
        let mut levels = vec![roots];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let above =
                below.chunks(2).map(|p| if p.len() == 2 { parent(&p[0], &p[1]) } else { p[0] }).collect();
            levels.push(above);
        }
        Self { layout, levels }
    }

    /// The file's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The file root (equal to the streaming [`crate::RootHasher`] result).
    pub fn root(&self) -> Root {
        Root(self.levels.last().and_then(|l| l.first()).copied().unwrap_or_default())
    }

    /// The inclusion proof of segment `index`.
    pub fn proof(&self, index: u64) -> Result<SegmentProof, ContentError> {
        let segments = self.layout.segments();
        if index >= segments {
            return Err(ContentError::NoSuchSegment { index, segments });
        }
        let mut siblings = Vec::new();
        let mut pos = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sib = pos ^ 1;
            if sib < level.len() {
                siblings.push(Root(level[sib]));
            }
            pos /= 2;
        }
        Ok(SegmentProof { file_size: self.layout.size, index, siblings })
    }
}

/// Builds a [`SegmentTree`] from a stream of unknown length, holding one segment.
#[derive(Debug, Clone, Default)]
pub struct SegmentTreeBuilder {
    roots: Vec<Hash>,
    current: Vec<u8>,
    size: u64,
}

impl SegmentTreeBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Feed the next bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.size += data.len() as u64;
        let seg = SEGMENT_SIZE as usize;
        while !data.is_empty() {
            if self.current.is_empty() && data.len() >= seg {
                // Whole segments straight from the caller's buffer.
                self.roots.push(full_segment_root(&data[..seg]));
                data = &data[seg..];
                continue;
            }
            let take = (seg - self.current.len()).min(data.len());
            self.current.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.current.len() == seg {
                self.roots.push(full_segment_root(&self.current));
                self.current.clear();
            }
        }
    }

    /// Pad the tail as 0G does and return the tree.
    pub fn finish(mut self) -> Result<SegmentTree, ContentError> {
        let layout = Layout::for_size(self.size)?;
        if !self.current.is_empty() {
            let index = self.roots.len() as u64;
            self.roots.push(segment_root(&layout, index, &self.current)?);
        }
        // Segments made only of padding.
        for index in self.roots.len() as u64..layout.segments() {
            self.roots.push(segment_root(&layout, index, &[])?);
        }
        Ok(SegmentTree::from_segment_roots(layout, self.roots))
    }
}

/// A full segment's root does not depend on the file's size: no padding reaches it.
fn full_segment_root(data: &[u8]) -> Hash {
    let mut f = Frontier::default();
    for chunk in data.chunks_exact(CHUNK_SIZE) {
        f.push_leaf(leaf(chunk));
    }
    f.root().unwrap_or_default()
}

/// Proof that one segment belongs to the file with a given root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentProof {
    /// Size of the whole file in bytes; fixes the tree's shape.
    pub file_size: u64,
    /// Which segment (0-based).
    pub index: u64,
    /// Sibling hashes from the segment up to the root.
    pub siblings: Vec<Root>,
}

impl SegmentProof {
    /// Check that `data` is segment `index` of the file whose root is `root`.
    pub fn verify(&self, root: &Root, data: &[u8]) -> Result<(), ContentError> {
        let layout = Layout::for_size(self.file_size)?;
        let mut acc = segment_root(&layout, self.index, data)?;
        let count = layout.segments();
        let expected = path_len(self.index, count);
        if self.siblings.len() != expected {
            return Err(ContentError::ProofShape { expected, actual: self.siblings.len() });
        }
        let (mut pos, mut count) = (self.index, count);
        let mut sibs = self.siblings.iter().map(|r| r.0);
        // The length was checked above; this guards the walk itself.
        let mut next =
            || sibs.next().ok_or(ContentError::ProofShape { expected, actual: self.siblings.len() });
        while count > 1 {
            if pos % 2 == 1 {
                acc = parent(&next()?, &acc);
            } else if pos + 1 < count {
                acc = parent(&acc, &next()?);
            }
            pos /= 2;
            count = count.div_ceil(2);
        }
        let actual = Root(acc);
        if actual != *root {
            return Err(ContentError::RootMismatch { expected: *root, actual });
        }
        Ok(())
    }
}
