//! Keccak tree hashing with a constant-memory frontier.

use std::fmt;
use std::io::Read;
use std::str::FromStr;
use std::sync::OnceLock;

use sha3::{Digest, Keccak256};

use crate::ContentError;
use crate::layout::{CHUNK_SIZE, Layout};

/// A 32-byte keccak256 node.
pub type Hash = [u8; 32];

/// A 0G file root, shown as `0x` and 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Root(pub Hash);

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Root {
    type Err = ContentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ContentError::MalformedRoot(s.chars().take(80).collect());
        let digits = s.strip_prefix("0x").ok_or_else(bad)?;
        // Lowercase only: one root, one spelling, so roots compare as strings too.
        if digits.len() != 64 || !digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| bad())?;
        Ok(Root(out))
    }
}

impl serde::Serialize for Root {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Root {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn leaf(chunk: &[u8]) -> Hash {
    debug_assert_eq!(chunk.len(), CHUNK_SIZE);
    Keccak256::digest(chunk).into()
}

pub(crate) fn parent(left: &Hash, right: &Hash) -> Hash {
    let mut h = Keccak256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// `zero_subtree(h)` is the root of a perfect subtree of `2^h` all-zero chunks, so
/// padding costs one table look-up per aligned run instead of a hash per chunk.
pub(crate) fn zero_subtree(height: u32) -> Hash {
    static TABLE: OnceLock<Vec<Hash>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Vec::with_capacity(64);
        t.push(leaf(&[0u8; CHUNK_SIZE]));
        for i in 1..64 {
            let below = t[i - 1];
            t.push(parent(&below, &below));
        }
        t
    })[height as usize]
}

/// The right edge of a carry-up Merkle tree: one perfect subtree per set bit of the
/// leaf count, heights strictly decreasing. Folding it right to left gives exactly the
/// root that level-by-level hashing with "odd node carried up" gives.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frontier {
    nodes: Vec<(u32, Hash)>,
    leaves: u64,
}

impl Frontier {
    pub(crate) fn push_leaf(&mut self, h: Hash) {
        self.push(0, h);
    }

    /// Push a perfect subtree of height `height`; the leaf count must be aligned to it.
    pub(crate) fn push(&mut self, height: u32, h: Hash) {
        debug_assert_eq!(self.leaves % (1u64 << height), 0);
        self.leaves += 1u64 << height;
        let mut node = (height, h);
        while let Some(&(top_h, top)) = self.nodes.last() {
            if top_h != node.0 {
                break;
            }
            self.nodes.pop();
            node = (node.0 + 1, parent(&top, &node.1));
        }
        self.nodes.push(node);
    }

    /// Append `count` all-zero chunks in aligned perfect blocks.
    pub(crate) fn push_zero_leaves(&mut self, mut count: u64) {
        while count > 0 {
            let align = if self.leaves == 0 { 63 } else { self.leaves.trailing_zeros() };
            let fits = 63 - count.leading_zeros();
            let height = align.min(fits);
            self.push(height, zero_subtree(height));
            count -= 1u64 << height;
        }
    }

    pub(crate) fn leaves(&self) -> u64 {
        self.leaves
    }

    /// The root; `None` when nothing was pushed.
    pub(crate) fn root(&self) -> Option<Hash> {
        let mut iter = self.nodes.iter().rev();
        let mut acc = iter.next()?.1;
        for (_, left) in iter {
            acc = parent(left, &acc);
        }
        Some(acc)
    }
}

const PARALLEL_SUBTREE_HEIGHT: u32 = 11;
const PARALLEL_SUBTREE_CHUNKS: u64 = 1 << PARALLEL_SUBTREE_HEIGHT;
const PARALLEL_SUBTREE_BYTES: usize = (PARALLEL_SUBTREE_CHUNKS as usize) * CHUNK_SIZE;

/// The root of a perfect subtree over whole chunks.
fn perfect_subtree_root(data: &[u8]) -> Hash {
    let mut f = Frontier::default();
    for chunk in data.chunks_exact(CHUNK_SIZE) {
        f.push_leaf(leaf(chunk));
    }
    f.root().unwrap_or_default()
}

/// Streaming 0G root computation in constant memory.
#[derive(Debug, Clone, Default)]
pub struct RootHasher {
    frontier: Frontier,
    partial: Vec<u8>,
    size: u64,
}

impl RootHasher {
    /// A hasher with nothing fed yet.
    pub fn new() -> Self {
        Self { frontier: Frontier::default(), partial: Vec::with_capacity(CHUNK_SIZE), size: 0 }
    }

    /// Feed the next bytes of the file.
    ///
    /// Runs of whole, aligned 1 MiB blocks are hashed as two 512 KiB subtrees on two
    /// threads: the tree is the same, the wall time about half.
    pub fn update(&mut self, mut data: &[u8]) {
        self.size += data.len() as u64;
        while self.partial.is_empty()
            && data.len() >= 2 * PARALLEL_SUBTREE_BYTES
            && self.frontier.leaves().is_multiple_of(2 * PARALLEL_SUBTREE_CHUNKS)
        {
            let (a, b) = data[..2 * PARALLEL_SUBTREE_BYTES].split_at(PARALLEL_SUBTREE_BYTES);
            let (ha, hb) = std::thread::scope(|s| {
                let left = s.spawn(|| perfect_subtree_root(a));
                let right = perfect_subtree_root(b);
                (left.join(), right)
            });
            // A panic in pure hashing code is a bug; fall back to hashing inline.
            let ha = ha.unwrap_or_else(|_| perfect_subtree_root(a));
            self.frontier.push(PARALLEL_SUBTREE_HEIGHT, ha);
            self.frontier.push(PARALLEL_SUBTREE_HEIGHT, hb);
            data = &data[2 * PARALLEL_SUBTREE_BYTES..];
        }
        if !self.partial.is_empty() {
            let take = (CHUNK_SIZE - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < CHUNK_SIZE {
                return;
            }
            self.frontier.push_leaf(leaf(&self.partial));
            self.partial.clear();
        }
        let mut chunks = data.chunks_exact(CHUNK_SIZE);
        for chunk in &mut chunks {
            self.frontier.push_leaf(leaf(chunk));
        }
        self.partial.extend_from_slice(chunks.remainder());
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of everything fed; an error for zero bytes.
    pub fn finalize(mut self) -> Result<Root, ContentError> {
        let layout = Layout::for_size(self.size)?;
        if !self.partial.is_empty() {
            self.partial.resize(CHUNK_SIZE, 0);
            self.frontier.push_leaf(leaf(&self.partial));
        }
        debug_assert_eq!(self.frontier.leaves(), layout.chunks);
        self.frontier.push_zero_leaves(layout.padded_chunks - layout.chunks);
        self.frontier.root().map(Root).ok_or(ContentError::Empty)
    }
}

/// The root of an in-memory byte string.
pub fn root_of(data: &[u8]) -> Result<Root, ContentError> {
    let mut h = RootHasher::new();
    h.update(data);
    h.finalize()
}

/// The root and size of everything a reader yields, in constant memory.
pub fn root_of_reader(mut reader: impl Read) -> Result<(Root, u64), ContentError> {
    let mut h = RootHasher::new();
    // Whole 1 MiB blocks let `update` use both cores.
    let mut buf = vec![0u8; 2 * PARALLEL_SUBTREE_BYTES];
    loop {
        let filled = veil_fs::read_full(&mut reader, &mut buf)?;
        if filled == 0 {
            break;
        }
        h.update(&buf[..filled]);
    }
    let size = h.size();
    Ok((h.finalize()?, size))
}
