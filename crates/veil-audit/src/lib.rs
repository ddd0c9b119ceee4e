//! Append-only audit logs: every decision a service makes (a key granted, a request
//! refused) becomes one JSON line whose hash covers the previous line's hash, written
//! and fsynced before the decision takes effect.
//!
//! Line `n` is `{"seq":n,"at":…,"prev":H(n-1),"event":…,"hash":H(n)}` with
//! `H(n) = SHA-256("veil/audit/v1\0" ‖ JCS(line without "hash"))` and `H(-1)` = 32
//! zero bytes. Editing, dropping or reordering any line breaks the chain at that line.
//! Dropping lines from the end cannot be seen from the file alone; callers compare
//! the [`Head`] with one recorded elsewhere (a transparency log, the ledger).
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"veil/audit/v1\0";
/// Lines longer than this are refused (an event is a small JSON object).
const MAX_LINE: usize = 1 << 20;

/// Why a log was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A line breaks the log's rules; `line` is 1-based.
    #[error("audit log {path}, line {line}: {reason}")]
    Broken {
        /// The log file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The log ends before the head recorded elsewhere.
    #[error("audit log ends at {actual}, but {expected} was recorded: entries were removed from the end")]
    Truncated {
        /// The recorded head.
        expected: Head,
        /// The head found in the file.
        actual: Head,
    },
    /// Reading or writing the log failed.
    #[error("audit log I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The latest entry of a log: its sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Entries in the log.
    pub len: u64,
    /// Hash of the last entry (zeros for an empty log).
    pub hash: [u8; 32],
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:sha256:{}", self.len, hex::encode(self.hash))
    }
}

impl std::str::FromStr for Head {
    type Err = String;

    /// Parse `LEN:sha256:HEX`, as [`Head`] displays itself.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not LEN:sha256:HEX");
        let (len, hash) = s.split_once(":sha256:").ok_or_else(bad)?;
        let mut h = [0u8; 32];
        hex::decode_to_slice(hash, &mut h).map_err(|_| bad())?;
        Ok(Self { len: len.parse().map_err(|_| bad())?, hash: h })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    seq: u64,
    at: String,
    prev: String,
    event: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
}

fn entry_hash(seq: u64, at: &str, prev: &str, event: &Value) -> Result<[u8; 32], String> {
    let body = Entry { seq, at: at.to_owned(), prev: prev.to_owned(), event: event.clone(), hash: None };
    let canonical = veil_jcs::to_canonical_vec(&body).map_err(|e| e.to_string())?;
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(&canonical);
    Ok(h.finalize().into())
}

fn show(hash: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(hash))
}

/// Check one line against the chain so far; returns the new head.
fn check_line(head: Head, line: &[u8], path: &Path, lineno: u64) -> Result<Head, AuditError> {
    let broken = |reason: String| AuditError::Broken { path: path.to_path_buf(), line: lineno, reason };
    let value = veil_jcs::parse_strict(line).map_err(|e| broken(e.to_string()))?;
    let e: Entry = serde_json::from_value(value).map_err(|e| broken(format!("not an audit entry: {e}")))?;
    if e.seq != head.len {
        return Err(broken(format!(
            "sequence {} where {} was expected (an entry was dropped or moved)",
            e.seq, head.len
        )));
    }
    if e.prev != show(&head.hash) {
        return Err(broken(
            "prev does not match the previous entry's hash (an entry was dropped, moved or edited)".into(),
        ));
    }
    let computed = entry_hash(e.seq, &e.at, &e.prev, &e.event).map_err(broken)?;
    if e.hash.as_deref() != Some(show(&computed).as_str()) {
        return Err(broken("hash does not match the entry's content (the entry was edited)".into()));
    }
    Ok(Head { len: head.len + 1, hash: computed })
}

/// Verify a whole log; with `expected`, also insist it reaches at least that head.
pub fn verify(path: &Path, expected: Option<Head>) -> Result<Head, AuditError> {
    let (head, _, partial) = scan(path)?;
    if let Some(tail) = partial {
        return Err(AuditError::Broken {
            path: path.to_path_buf(),
            line: head.len + 1,
            reason: format!("incomplete last line ({tail} bytes without a newline)"),
        });
    }
    if let Some(exp) = expected {
        if head.len < exp.len {
            return Err(AuditError::Truncated { expected: exp, actual: head });
        }
        if head.len == exp.len && head.hash != exp.hash {
            return Err(AuditError::Broken {
                path: path.to_path_buf(),
                line: head.len,
                reason: "last hash differs from the recorded head".into(),
            });
        }
    }
    Ok(head)
}

/// Walk the file: the head of its complete lines, their byte length, and the length of
/// an unterminated final fragment if there is one.
fn scan(path: &Path) -> Result<(Head, u64, Option<u64>), AuditError> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut head = Head { len: 0, hash: [0u8; 32] };
    let mut good_bytes = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok((head, good_bytes, None));
        }
        if line.last() != Some(&b'\n') {
            if n > MAX_LINE {
                return Err(AuditError::Broken {
                    path: path.to_path_buf(),
                    line: head.len + 1,
                    reason: "line too long".into(),
                });
            }
            return Ok((head, good_bytes, Some(n as u64)));
        }
        head = check_line(head, &line[..n - 1], path, head.len + 1)?;
        good_bytes += n as u64;
    }
}

/// An open log that appends entries.
#[derive(Debug)]
pub struct AuditLog {
    file: File,
    path: PathBuf,
    head: Head,
    /// Bytes of the file that are whole, verified entries.
    bytes: u64,
}

impl AuditLog {
    /// Open (or create, mode 0600) a log, verifying every entry already in it. An
    /// unterminated last line, which only a crash in the middle of an append leaves,
    /// is cut off; any other damage refuses to open.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path)?;
        let (head, good_bytes, partial) = scan(path)?;
        if partial.is_some() {
            file.set_len(good_bytes)?;
            file.sync_all()?;
        }
        Ok(Self { file, path: path.to_path_buf(), head, bytes: good_bytes })
    }

    /// The current head.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Append one event at time `at` (RFC 3339); durable when this returns.
    pub fn append(&mut self, at: &str, event: &Value) -> Result<Head, AuditError> {
        let prev = show(&self.head.hash);
        let hash = entry_hash(self.head.len, at, &prev, event).map_err(|reason| AuditError::Broken {
            path: self.path.clone(),
            line: self.head.len + 1,
            reason,
        })?;
        let entry = Entry {
            seq: self.head.len,
            at: at.to_owned(),
            prev,
            event: event.clone(),
            hash: Some(show(&hash)),
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| std::io::Error::other(e.to_string()))?;
        line.push(b'\n');
        // An append that failed part-way (a full disk) left a tail the chain does not
        // cover: cut it, so the log recovers as soon as there is room again.
        if self.file.metadata()?.len() != self.bytes {
            self.file.set_len(self.bytes)?;
        }
        self.file.seek(SeekFrom::End(0))?;
        // One write call: O_APPEND keeps a line whole; fsync makes it durable.
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.head = Head { len: self.head.len + 1, hash };
        self.bytes += line.len() as u64;
        Ok(self.head)
    }
}
