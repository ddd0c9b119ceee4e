//! A command's input and output by path, where `-` means stdin or stdout.
//!
//! An output file is an [`AtomicFile`], so a command that fails part-way leaves no
//! partial file; either kind is written from a second thread ([`WriteBehind`]) so that
//! producing the bytes and writing them overlap.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::{AtomicFile, WriteBehind};

/// The error for `path`, naming it.
fn naming(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

/// A command's input: a file, or stdin for `-`.
pub enum Input {
    /// A file.
    File(File),
    /// Standard input.
    Stdin(io::Stdin),
}

impl Input {
    /// Open `path` (or stdin for `-`).
    pub fn open(path: &Path) -> io::Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(Self::Stdin(io::stdin()));
        }
        File::open(path).map(Self::File).map_err(|e| naming(path, "read", e))
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::File(f) => f.read(buf),
            Self::Stdin(s) => s.read(buf),
        }
    }
}

/// A command's output: an atomic file, or stdout for `-`.
pub enum Output {
    /// A file that appears at its path on commit.
    File(WriteBehind<AtomicFile>, PathBuf),
    /// Standard output.
    Stdout(WriteBehind<io::Stdout>),
}

impl Output {
    /// Start writing `path` (or stdout for `-`); nothing appears there before
    /// [`Output::commit`].
    pub fn create(path: &Path) -> io::Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(Self::Stdout(WriteBehind::new(io::stdout())?));
        }
        let file = AtomicFile::create(path).map_err(|e| naming(path, "write", e))?;
        Ok(Self::File(WriteBehind::new(file)?, path.to_path_buf()))
    }

    /// Make the output visible: rename into place, or flush stdout.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Self::File(w, dest) => {
                w.finish().and_then(AtomicFile::commit).map_err(|e| naming(&dest, "write", e))
            }
            Self::Stdout(w) => w.finish()?.flush(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::File(f, _) => f.write(buf),
            Self::Stdout(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File(f, _) => f.flush(),
            Self::Stdout(s) => s.flush(),
        }
    }
}
