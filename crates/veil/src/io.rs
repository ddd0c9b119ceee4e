//! Standard streams for the commands: `-` for stdin/stdout, atomic outputs.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use veil_fs::{AtomicFile, WriteBehind};

/// A command's input: a file or stdin.
pub enum Input {
    File(File),
    Stdin(io::Stdin),
}

impl Input {
    pub fn open(path: &Path) -> Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(Self::Stdin(io::stdin()));
        }
        Ok(Self::File(
            File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        ))
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

/// A command's output: an atomic file, or stdout, written from a second thread so
/// that producing the bytes and writing them overlap.
pub enum Output {
    File(WriteBehind<AtomicFile>, PathBuf),
    Stdout(WriteBehind<io::Stdout>),
}

impl Output {
    pub fn create(path: &Path) -> Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(Self::Stdout(WriteBehind::new(io::stdout())?));
        }
        let file = AtomicFile::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self::File(WriteBehind::new(file)?, path.to_path_buf()))
    }

    /// Make the output visible: rename into place, or flush stdout.
    pub fn commit(self) -> Result<()> {
        match self {
            Self::File(w, dest) => w
                .finish()
                .and_then(AtomicFile::commit)
                .with_context(|| format!("cannot write {}", dest.display())),
            Self::Stdout(w) => Ok(w.finish()?.flush()?),
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
