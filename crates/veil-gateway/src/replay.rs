//! Single-use request nonces that survive restarts.
//!
//! A signed request names a nonce and an expiry at most `MAX_EXPIRY_SECS` ahead; the
//! guard remembers (signer, nonce) until that expiry, in memory and in an fsynced
//! append-only file, so a request replayed after a restart is still refused. Entries
//! past their expiry are dropped when the file is reopened, and online whenever the
//! file holds twice the live entries (plus slack): the file stays proportional to the
//! nonces that can still be replayed, without a restart.
//!
//! The file ends where the guard's last durable append ended. A write that failed
//! part-way (a full disk) leaves a tail the next append would run into, merging two
//! lines into one the parser misreads; so before each append a tail past the known end
//! is cut, and a line that does not parse as exactly `signer nonce expiry` is dropped.

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
    /// Bytes of the file that are whole, durable lines.
    len: u64,
    /// Lines in the file.
    lines: usize,
    /// Compact when `lines` reaches this.
    compact_at: usize,
}

/// Dead lines tolerated beyond the live ones before the file is rewritten.
const COMPACT_SLACK: usize = 1024;

fn parse_line(line: &str) -> Option<(String, String, u64)> {
    let mut f = line.split(' ');
    let (s, n, e) = (f.next()?, f.next()?, f.next()?);
    if f.next().is_some() || s.is_empty() || n.is_empty() {
        return None;
    }
    Some((s.to_owned(), n.to_owned(), e.parse().ok()?))
}

fn render(seen: &HashMap<(String, String), u64>) -> String {
    let mut out = String::new();
    for ((s, n), e) in seen {
        out.push_str(&format!("{s} {n} {e}\n"));
    }
    out
}

impl ReplayGuard {
    /// Open (or create) the log at `path`, keeping entries not expired at `now`.
    pub fn open(path: &Path, now: u64) -> Result<Self, ReplayError> {
        let io = |source| ReplayError::Io { path: path.to_owned(), source };
        let mut seen = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            // A torn last line (crash mid-append) does not parse: skipped.
            for (s, n, e) in text.lines().filter_map(parse_line) {
                if e >= now {
                    seen.insert((s, n), e);
                }
            }
        }
        let (file, len) = Self::rewrite(path, &seen).map_err(io)?;
        let lines = seen.len();
        Ok(Self {
            path: path.to_owned(),
            inner: Mutex::new(Inner { file, compact_at: 2 * lines + COMPACT_SLACK, seen, len, lines }),
        })
    }

    /// Replace the file with exactly `seen`, atomically; the append handle and length.
    fn rewrite(path: &Path, seen: &HashMap<(String, String), u64>) -> std::io::Result<(File, u64)> {
        let text = render(seen);
        veil_fs::write_atomic(path, text.as_bytes())?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok((file, text.len() as u64))
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
            return Err(ReplayError::Replayed { signer: signer.to_owned(), nonce: nonce.to_owned() });
        }
        let io = |source| ReplayError::Io { path: self.path.clone(), source };
        if inner.lines >= inner.compact_at {
            inner.seen.retain(|_, e| *e >= now);
            let (file, len) = Self::rewrite(&self.path, &inner.seen).map_err(io)?;
            inner.file = file;
            inner.len = len;
            inner.lines = inner.seen.len();
            inner.compact_at = 2 * inner.lines + COMPACT_SLACK;
        }
        // Cut whatever a failed append left past the last whole line.
        if inner.file.metadata().map_err(io)?.len() != inner.len {
            let len = inner.len;
            inner.file.set_len(len).map_err(io)?;
        }
        let line = format!("{} {} {expiry}\n", key.0, key.1);
        inner.file.write_all(line.as_bytes()).and_then(|()| inner.file.sync_data()).map_err(io)?;
        inner.len += line.len() as u64;
        inner.lines += 1;
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
        assert!(matches!(g.check_and_record("0xab", "1", 200, 100), Err(ReplayError::Replayed { .. })));
        g.check_and_record("0xab", "2", 150, 100).unwrap();
        g.check_and_record("0xcd", "1", 200, 100).unwrap();
        drop(g);
        let g = ReplayGuard::open(&p, 160).unwrap();
        assert!(g.check_and_record("0xab", "1", 200, 160).is_err(), "remembered after a restart");
        g.check_and_record("0xab", "2", 300, 160).expect("expired entries are forgotten");
        // A torn final line is ignored, not fatal.
        drop(g);
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"0xef 9").unwrap();
        let g = ReplayGuard::open(&p, 160).unwrap();
        g.check_and_record("0xef", "9", 300, 160).unwrap();
    }

    /// Issue 14, finding 12: a failed append's tail merged with the next line, so a
    /// used nonce could be forgotten at the next restart.
    #[test]
    fn a_torn_tail_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nonces.log");
        let g = ReplayGuard::open(&p, 100).unwrap();
        g.check_and_record("0xab", "1", 200, 100).unwrap();
        // What a write that failed part-way leaves behind.
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"0xef 9").unwrap();
        g.check_and_record("0xcd", "2", 200, 100).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("0xef"), "{text}");
        drop(g);
        let g = ReplayGuard::open(&p, 100).unwrap();
        for (s, n) in [("0xab", "1"), ("0xcd", "2")] {
            assert!(
                matches!(g.check_and_record(s, n, 200, 100), Err(ReplayError::Replayed { .. })),
                "{s} {n} remembered"
            );
        }
        // A merged line of four fields is not read as some other nonce.
        assert_eq!(parse_line("0xef 90xcd 2 200"), None);
    }

    #[test]
    fn the_log_compacts_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nonces.log");
        let g = ReplayGuard::open(&p, 100).unwrap();
        for i in 0..COMPACT_SLACK {
            g.check_and_record("0xab", &i.to_string(), 110, 100).unwrap();
        }
        let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
        assert_eq!(lines(&p), COMPACT_SLACK);
        // Later, every one of those has expired: the next append rewrites the file.
        g.check_and_record("0xab", "live", 300, 200).unwrap();
        assert_eq!(lines(&p), 1);
        assert!(g.check_and_record("0xab", "live", 300, 200).is_err());
        // Entries not yet expired survive a compaction.
        drop(g);
        let g = ReplayGuard::open(&p, 200).unwrap();
        assert!(g.check_and_record("0xab", "live", 300, 200).is_err());
    }
}
