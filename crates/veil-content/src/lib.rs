//! Content addressing exactly as 0G Storage computes it.
//!
//! A file is cut into 256-byte chunks (the last one zero-padded); each chunk is a
//! keccak256 leaf; parents are `keccak256(left || right)` and an odd node at the end
//! of a level is carried up unchanged. Before hashing, the chunk count is padded with
//! all-zero chunks (see [`Layout::padded_chunks`]). The root of that tree is the file's
//! address everywhere in Veil.
//!
//! Everything here streams: [`RootHasher`] keeps one partial chunk and one node per
//! tree level, so memory is constant whatever the file size.
#![forbid(unsafe_code)]

mod hash;
mod layout;
mod proof;

pub use hash::{Hash, Root, RootHasher, root_of, root_of_reader};
pub use layout::{CHUNK_SIZE, Layout, SEGMENT_CHUNKS, SEGMENT_SIZE};
pub use proof::{SegmentProof, SegmentTree, SegmentTreeBuilder, segment_root};

/// Errors from content addressing.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// 0G Storage has no address for zero bytes.
    #[error("empty data has no 0G root")]
    Empty,
    /// A root string was not `0x` followed by 64 hex digits.
    #[error("malformed root {0:?}: expected 0x followed by 64 hex digits")]
    MalformedRoot(String),
    /// A segment index past the end of the file.
    #[error("segment {index} does not exist: the file has {segments} segments")]
    NoSuchSegment {
        /// The requested segment.
        index: u64,
        /// How many segments the file has.
        segments: u64,
    },
    /// Segment bytes longer than the segment can hold.
    #[error("segment {index} holds {expected} bytes of data, got {actual}")]
    SegmentLength {
        /// The segment.
        index: u64,
        /// Bytes of file data that segment covers.
        expected: u64,
        /// Bytes supplied.
        actual: u64,
    },
    /// A proof whose shape does not fit the file it claims to come from.
    #[error("segment proof has {actual} sibling hashes, the tree needs {expected}")]
    ProofShape {
        /// Siblings the tree shape needs.
        expected: usize,
        /// Siblings supplied.
        actual: usize,
    },
    /// The recomputed root differs from the expected one.
    #[error("root mismatch: expected {expected}, computed {actual}")]
    RootMismatch {
        /// The root we were told to expect.
        expected: Root,
        /// The root the bytes hash to.
        actual: Root,
    },
    /// The reader ended before (or went past) the size we were promised.
    #[error("stream length {actual} differs from the declared size {expected}")]
    SizeMismatch {
        /// Declared size.
        expected: u64,
        /// Bytes actually read.
        actual: u64,
    },
    /// Reading the input failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}
