//! C2SP `tlog-tiles` paths: `tile/<L>/<N>[.p/<W>]` for hash tiles and
//! `tile/entries/<N>[.p/<W>]` for entry bundles, where `<N>` is the index in
//! zero-padded groups of three digits, every group but the last prefixed `x`.
//! Parsing accepts only the one canonical spelling of each tile.

use std::fmt;

use crate::TILE_WIDTH;

/// One tile, by the C2SP coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    /// Hashes: `level` (tiles of 2⁸ levels each), `index` within the level, and
    /// `width` hashes (256 is a full tile).
    Hash {
        /// Tile level (0 holds leaf hashes).
        level: u8,
        /// Index within the level.
        index: u64,
        /// Hashes in the tile, 1..=256.
        width: u16,
    },
    /// An entry bundle: `width` entries starting at `index × 256`.
    Entries {
        /// Bundle index.
        index: u64,
        /// Entries in the bundle, 1..=256.
        width: u16,
    },
}

/// Levels beyond this cannot exist in a tree of at most 2⁶⁴ leaves.
const MAX_LEVEL: u8 = 7;

impl TilePath {
    /// Parse a path such as `tile/0/x001/234.p/17`; `None` for anything else.
    pub fn parse(path: &str) -> Option<Self> {
        // The longest canonical path is well under 64 bytes; refuse before splitting.
        if path.len() > 64 {
            return None;
        }
        let rest = path.strip_prefix("tile/")?;
        let (kind, rest) = rest.split_once('/')?;
        let (digits, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w: u16 = w.parse().ok()?;
                if !(1..TILE_WIDTH as u16).contains(&w) {
                    return None;
                }
                (n, w)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let mut index: u64 = 0;
        let groups: Vec<&str> = digits.split('/').collect();
        for (i, g) in groups.iter().enumerate() {
            let g = if i + 1 < groups.len() { g.strip_prefix('x')? } else { g };
            if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            index = index.checked_mul(1000)?.checked_add(g.parse::<u64>().ok()?)?;
        }
        let tile = match kind {
            "entries" => Self::Entries { index, width },
            level => {
                let level: u8 = level.parse().ok()?;
                if level > MAX_LEVEL {
                    return None;
                }
                Self::Hash { level, index, width }
            }
        };
        // One spelling per tile: leading zeros in the level, extra groups and the
        // like all fail the round trip.
        (tile.to_string() == path).then_some(tile)
    }

    /// The tile's index within its level.
    pub fn index(&self) -> u64 {
        match *self {
            Self::Hash { index, .. } | Self::Entries { index, .. } => index,
        }
    }

    /// Hashes or entries in the tile.
    pub fn width(&self) -> u16 {
        match *self {
            Self::Hash { width, .. } | Self::Entries { width, .. } => width,
        }
    }

    /// The same tile at another width.
    pub fn with_width(self, w: u16) -> Self {
        match self {
            Self::Hash { level, index, .. } => Self::Hash { level, index, width: w },
            Self::Entries { index, .. } => Self::Entries { index, width: w },
        }
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hash { level, .. } => write!(f, "tile/{level}/")?,
            Self::Entries { .. } => f.write_str("tile/entries/")?,
        }
        let n = self.index();
        let mut groups = vec![n % 1000];
        let mut rest = n / 1000;
        while rest > 0 {
            groups.push(rest % 1000);
            rest /= 1000;
        }
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                write!(f, "x{g:03}/")?;
            } else {
                write!(f, "{g:03}")?;
            }
        }
        if u64::from(self.width()) < TILE_WIDTH {
            write!(f, ".p/{}", self.width())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_follow_the_c2sp_examples() {
        let t = TilePath::Hash { level: 1, index: 1_234_067, width: 256 };
        assert_eq!(t.to_string(), "tile/1/x001/x234/067");
        assert_eq!(TilePath::Entries { index: 0, width: 3 }.to_string(), "tile/entries/000.p/3");
        assert_eq!(TilePath::parse("tile/1/x001/x234/067"), Some(t));
        for bad in [
            "tile/1/1/234/067",
            "tile/01/000",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/0/x000/001",
            "tile/8/000",
            "tile/0/00",
            "tile/0/000/",
            "tile/data/000",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
        ] {
            assert_eq!(TilePath::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_tile_round_trips(level in 0u8..=7, index: u64, width in 1u16..=256, entries: bool) {
            let t = if entries { TilePath::Entries { index, width } } else { TilePath::Hash { level, index, width } };
            prop_assert_eq!(TilePath::parse(&t.to_string()), Some(t));
        }

        #[test]
        fn parsing_never_panics(s in "tile/[0-9a-z./x]{0,40}") {
            if let Some(t) = TilePath::parse(&s) {
                prop_assert_eq!(t.to_string(), s);
            }
        }
    }
}
