//! Single-use request nonces that survive restarts.
//!
//! A signed request names a nonce and an expiry at most `MAX_EXPIRY_SECS` ahead; the
//! guard remembers (signer, nonce) until that expiry, in memory and in an fsynced
//! append-only file, so a request replayed after a restart is still refused. Entries
//! past their expiry are dropped when the file is reopened.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why a nonce was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Seen before.
    #[error("nonce {nonce} of {signer} was already used")]
    Replayed {
        /// The signer.
        signer: String,
        /// The nonce.
        nonce: String,
    },
    /// The file could not be written; the request is refused rather than risk a replay.
    #[error("nonce log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Remembered nonces.
#[derive(Debug)]
pub struct ReplayGuard {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    seen: HashMap<(String, String), u64>,
}

impl ReplayGuard {
    /// Open (or create) the log at `path`, keeping entries not expired at `now`.
    pub fn open(path: &Path, now: u64) -> Result<Self, ReplayError> {
        let io = |source| ReplayError::Io {
            path: path.to_owned(),
            source,
        };
        let mut seen = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            // A torn last line (crash mid-append) has fewer than three fields: skipped.
            for line in text.lines() {
                let mut f = line.split(' ');
                if let (Some(s), Some(n), Some(e)) = (f.next(), f.next(), f.next())
                    && let Ok(e) = e.parse::<u64>()
                    && e >= now
                {
                    seen.insert((s.to_owned(), n.to_owned()), e);
                }
            }
        }
        let mut compact = String::new();
        for ((s, n), e) in &seen {
            compact.push_str(&format!("{s} {n} {e}\n"));
        }
        veil_fs::write_atomic(path, compact.as_bytes()).map_err(io)?;
        let mut opts = OpenOptions::new();
        opts.append(true);
        let file = opts.open(path).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            inner: Mutex::new(Inner { file, seen }),
        })
    }

    /// Accept `(signer, nonce)` once; durable before this returns.
    pub fn check_and_record(
        &self,
        signer: &str,
        nonce: &str,
        expiry: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = (signer.to_ascii_lowercase(), nonce.to_owned());
        if inner.seen.contains_key(&key) {
            return Err(ReplayError::Replayed {
                signer: signer.to_owned(),
                nonce: nonce.to_owned(),
            });
        }
        if inner.seen.len() > 100_000 {
            inner.seen.retain(|_, e| *e >= now);
        }
        let line = format!("{} {} {expiry}\n", key.0, key.1);
        let written = inner
            .file
            .write_all(line.as_bytes())
            .and_then(|()| inner.file.sync_data());
        written.map_err(|source| ReplayError::Io {
            path: self.path.clone(),
            source,
        })?;
        inner.seen.insert(key, expiry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_single_use_across_restarts_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nonces.log");
        let g = ReplayGuard::open(&p, 100).unwrap();
        g.check_and_record("0xAb", "1", 200, 100).unwrap();
        assert!(matches!(
            g.check_and_record("0xab", "1", 200, 100),
            Err(ReplayError::Replayed { .. })
        ));
        g.check_and_record("0xab", "2", 150, 100).unwrap();
        g.check_and_record("0xcd", "1", 200, 100).unwrap();
        drop(g);
        let g = ReplayGuard::open(&p, 160).unwrap();
        assert!(
            g.check_and_record("0xab", "1", 200, 160).is_err(),
            "remembered after a restart"
        );
        g.check_and_record("0xab", "2", 300, 160)
            .expect("expired entries are forgotten");
        // A torn final line is ignored, not fatal.
        drop(g);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"0xef 9")
            .unwrap();
        let g = ReplayGuard::open(&p, 160).unwrap();
        g.check_and_record("0xef", "9", 300, 160).unwrap();
    }
}
