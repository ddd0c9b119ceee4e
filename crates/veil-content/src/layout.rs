//! Where chunks, padding and segments fall for a file of a given size.

use crate::ContentError;

/// Bytes per leaf chunk.
pub const CHUNK_SIZE: usize = 256;
/// Chunks per segment (the unit a reader fetches and proves on its own).
pub const SEGMENT_CHUNKS: u64 = 1024;
/// Bytes per segment: 256 KiB.
pub const SEGMENT_SIZE: u64 = SEGMENT_CHUNKS * CHUNK_SIZE as u64;

/// The shape of a file's Merkle tree, derived from its size alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// File size in bytes.
    pub size: u64,
    /// Chunks holding data.
    pub chunks: u64,
    /// Chunks after 0G's zero-chunk padding.
    pub padded_chunks: u64,
}

impl Layout {
    /// The layout of a file of `size` bytes.
    pub fn for_size(size: u64) -> Result<Self, ContentError> {
        if size == 0 {
            return Err(ContentError::Empty);
        }
        let chunks = size.div_ceil(CHUNK_SIZE as u64);
        Ok(Self { size, chunks, padded_chunks: Self::padded_chunks(chunks) })
    }

    /// 0G's padding rule: a chunk count `n` that is not a power of two is rounded up to
    /// a multiple of `max(1, nextPow2(n) / 16)`.
    pub fn padded_chunks(n: u64) -> u64 {
        if n.is_power_of_two() {
            return n;
        }
        let m = (n.next_power_of_two() / 16).max(1);
        n.div_ceil(m) * m
    }

    /// Segments in the padded tree (padding may add whole zero segments).
    pub fn segments(&self) -> u64 {
        self.padded_chunks.div_ceil(SEGMENT_CHUNKS)
    }

    /// Leaves (data and padding) in segment `index`.
    pub fn segment_chunks(&self, index: u64) -> u64 {
        self.padded_chunks.saturating_sub(index.saturating_mul(SEGMENT_CHUNKS)).min(SEGMENT_CHUNKS)
    }

    /// The byte range of file data that segment `index` covers (empty for pure padding).
    pub fn segment_data_range(&self, index: u64) -> std::ops::Range<u64> {
        // Saturating: proofs from outside may name absurd sizes and indices.
        let start = index.saturating_mul(SEGMENT_SIZE).min(self.size);
        let end = index.saturating_add(1).saturating_mul(SEGMENT_SIZE).min(self.size);
        start..end
    }
}
