//! Output files that appear whole or not at all.
//!
//! Every file Veil writes goes through [`AtomicFile`]: bytes go to a temporary file in
//! the destination's directory (so the final rename never crosses filesystems), which
//! is fsynced, renamed over the destination, and the directory fsynced. Dropping an
//! uncommitted `AtomicFile` removes the temporary file, so a failed command leaves the
//! destination exactly as it was.
#![forbid(unsafe_code)]

pub mod stdio;
mod write_behind;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use write_behind::WriteBehind;

use tempfile::NamedTempFile;

/// A file being written; visible at its destination only after [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
    clobber: bool,
}

impl AtomicFile {
    /// Start writing `dest`; an existing file there is replaced on commit.
    ///
    /// The file is created mode 0600: outputs may hold plaintext.
    pub fn create(dest: impl AsRef<Path>) -> io::Result<Self> {
        Self::open(dest.as_ref(), true)
    }

    /// Start writing `dest`, refusing on commit if something already exists there
    /// (for keys: overwriting one would lose it).
    pub fn create_new(dest: impl AsRef<Path>) -> io::Result<Self> {
        let dest = dest.as_ref();
        if dest.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists; refusing to overwrite it", dest.display()),
            ));
        }
        Self::open(dest, false)
    }

    fn open(dest: &Path, clobber: bool) -> io::Result<Self> {
        let dir = parent_dir(dest);
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        // tempfile creates with mode 0600 on Unix.
        let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?;
        Ok(Self { tmp, dest: dest.to_path_buf(), clobber })
    }

    /// Start a file whose name is only known at the end (content-addressed blobs):
    /// write it, then [`AtomicFile::commit_as`] inside the same directory tree.
    pub fn create_in(dir: &Path) -> io::Result<Self> {
        let tmp = tempfile::Builder::new().prefix(".incoming.").suffix(".tmp").tempfile_in(dir)?;
        Ok(Self { tmp, dest: PathBuf::new(), clobber: true })
    }

    /// Commit under `dest` (replacing what is there), creating its directory.
    pub fn commit_as(mut self, dest: &Path) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
        }
        self.dest = dest.to_path_buf();
        self.commit()
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flush, fsync, rename into place and fsync the directory.
    pub fn commit(mut self) -> io::Result<()> {
        self.tmp.as_file_mut().flush()?;
        self.tmp.as_file().sync_all()?;
        let dest = self.dest.clone();
        if self.clobber {
            self.tmp.persist(&dest).map_err(|e| e.error)?;
        } else {
            self.tmp.persist_noclobber(&dest).map_err(|e| e.error)?;
        }
        sync_dir(parent_dir(&dest))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// fsync a directory so a rename inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Fill `buf` from `r` as far as the stream allows; fewer bytes only at end of stream.
/// (`Read::read_exact` cannot say how much it got before the end.)
pub fn read_full(r: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Write `bytes` to `dest` atomically (replacing what was there).
pub fn write_atomic(dest: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Create a directory (and parents) readable only by its owner.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Read a whole file that should be small, refusing anything over `max` bytes. The
/// error names the file.
pub fn read_limited(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use io::Read as _;
    let named = |e: io::Error| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()));
    let f = fs::File::open(path).map_err(named)?;
    let mut out = Vec::new();
    f.take(max + 1).read_to_end(&mut out).map_err(named)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {max} bytes", path.display()),
        ));
    }
    Ok(out)
}

/// Read a small JSON file as `T`, refusing anything over `max` bytes. The error names
/// the file and what it was expected to hold (`what`, e.g. "an attestation statement").
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, max: u64, what: &str) -> io::Result<T> {
    serde_json::from_slice(&read_limited(path, max)?).map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{} is not {what}: {e}", path.display()))
    })
}

/// Write `value` as pretty JSON to `dest` atomically.
pub fn write_json(dest: impl AsRef<Path>, value: &impl serde::Serialize) -> io::Result<()> {
    write_atomic(dest, &serde_json::to_vec_pretty(value).map_err(io::Error::other)?)
}

/// Refuse a secret file others can read, as ssh does: a leaked key is not a warning.
pub fn check_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is accessible by other users (mode {:o}); run `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit_and_a_drop_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        fs::write(&dest, b"original").unwrap();
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"half written").unwrap();
            // dropped without commit: a failed command
        }
        assert_eq!(fs::read(&dest).unwrap(), b"original");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "temp file left behind");
        write_atomic(&dest, b"new").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
    }

    #[test]
    fn create_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("key");
        fs::write(&dest, b"precious").unwrap();
        assert_eq!(AtomicFile::create_new(&dest).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&dest).unwrap(), b"precious");
    }

    #[cfg(unix)]
    #[test]
    fn outputs_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("secret");
        write_atomic(&dest, b"x").unwrap();
        assert_eq!(fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
