//! The log's files: a C2SP tlog-tiles tree under one directory, plus `checkpoint`.
//!
//! Full tiles are immutable once a checkpoint covers them. A batch's tiles are
//! written to temporary names, fsynced, renamed into place and their directories
//! fsynced before the checkpoint that covers them is replaced (atomically): a crash
//! at any point leaves the old checkpoint and tiles that agree with it.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Seek, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::{Path, PathBuf};

use crate::TilePath;

pub(crate) const CHECKPOINT: &str = "checkpoint";
/// Past checkpoints, one base64 note per line, at most one per second of log time.
/// Advisory (each note verifies on its own, and consistency proofs tie it to the
/// current tree), so it is appended without fsync and a torn last line is skipped.
const HISTORY: &str = "checkpoints";
/// How much of the history's tail is read back on open.
const HISTORY_TAIL_BYTES: u64 = 1 << 18;

pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    pub(crate) fn new(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self { dir: dir.to_owned() })
    }

    fn path(&self, t: &TilePath) -> PathBuf {
        self.dir.join(t.to_string())
    }

    /// A tile file's bytes, if it exists.
    pub(crate) fn read(&self, t: &TilePath) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(t)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn read_checkpoint(&self) -> io::Result<Option<Vec<u8>>> {
        match veil_fs::read_limited(&self.dir.join(CHECKPOINT), 1 << 16) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether any tile exists (a directory with tiles and no checkpoint is refused).
    pub(crate) fn has_tiles(&self) -> bool {
        self.dir.join("tile").exists()
    }

    /// Make every file durable under its final name, then their directories.
    pub(crate) fn write_tiles(&self, files: &[(TilePath, Vec<u8>)]) -> io::Result<()> {
        let mut staged = Vec::with_capacity(files.len());
        let mut dirs = BTreeSet::new();
        for (t, bytes) in files {
            let dest = self.path(t);
            let parent = dest.parent().ok_or_else(|| io::Error::other("a tile path has no directory"))?;
            if !dirs.contains(parent) {
                fs::create_dir_all(parent)?;
                dirs.insert(parent.to_owned());
            }
            let tmp =
                parent.join(format!(".{}.tmp", dest.file_name().and_then(|n| n.to_str()).unwrap_or("tile")));
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_data()?;
            staged.push((tmp, dest));
        }
        for (tmp, dest) in &staged {
            fs::rename(tmp, dest)?;
        }
        // A new directory's own entry lives in its parent: sync upwards to the root.
        let mut all = dirs.clone();
        for d in &dirs {
            let mut p = d.as_path();
            while let Some(parent) = p.parent() {
                if !parent.starts_with(&self.dir) {
                    break;
                }
                all.insert(parent.to_owned());
                p = parent;
            }
        }
        for d in all {
            veil_fs::sync_dir(&d)?;
        }
        Ok(())
    }

    pub(crate) fn write_checkpoint(&self, note: &[u8]) -> io::Result<()> {
        veil_fs::write_atomic(self.dir.join(CHECKPOINT), note)
    }

    /// Record a checkpoint in the history.
    pub(crate) fn append_history(&self, note: &[u8]) -> io::Result<()> {
        let mut line = STANDARD.encode(note).into_bytes();
        line.push(b'\n');
        let mut f = fs::OpenOptions::new().create(true).append(true).open(self.dir.join(HISTORY))?;
        f.write_all(&line)
    }

    /// The newest checkpoints in the history, oldest first (at most `max`).
    pub(crate) fn read_history(&self, max: usize) -> io::Result<Vec<Vec<u8>>> {
        let mut f = match fs::File::open(self.dir.join(HISTORY)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let start = len.saturating_sub(HISTORY_TAIL_BYTES);
        f.seek(io::SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        f.take(HISTORY_TAIL_BYTES).read_to_end(&mut tail)?;
        let mut lines: Vec<&[u8]> = tail.split(|&b| b == b'\n').collect();
        if start > 0 && !lines.is_empty() {
            lines.remove(0); // begins mid-line
        }
        let notes: Vec<Vec<u8>> = lines.into_iter().filter_map(|l| STANDARD.decode(l).ok()).collect();
        Ok(notes[notes.len().saturating_sub(max)..].to_vec())
    }

    /// Drop a superseded partial tile; a failure only leaves an unused file.
    pub(crate) fn remove(&self, t: &TilePath) {
        let _ = fs::remove_file(self.path(t));
    }
}
