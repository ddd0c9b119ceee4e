//! Single-use request nonces that survive restarts.
//!
//! A signed request names a nonce and an expiry at most `MAX_EXPIRY_SECS` ahead; the
//! guard remembers (signer, nonce) until that expiry, in memory and in an fsynced
//! append-only file, so a request replayed after a restart is still refused. Entries
//! past their expiry are dropped when the file is reopened, and online whenever the
//! file holds twice the live entries (plus slack): the file stays proportional to the
//! nonces that can still be replayed, without a restart.
//!
//! Several gateways share one guard through PostgreSQL ([`PgNonces`]): one statement
//! inserts `(signer, nonce)` or takes over an entry past its expiry, and a live entry
//! wins, so however many gateways race on a nonce exactly one accepts it, and a commit
//! (durable in the database's log) comes before the answer.
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
    /// The database could not be reached or refused the write; the request is
    /// refused rather than risk a replay.
    #[error("nonce database: {0}")]
    Database(String),
}

/// Where nonces are remembered: a local file (one gateway) or PostgreSQL (any number).
#[derive(Debug)]
pub enum Replay {
    /// An fsynced file ([`ReplayGuard`]).
    File(ReplayGuard),
    /// A PostgreSQL table ([`PgNonces`]).
    Postgres(PgNonces),
}

impl Replay {
    /// Accept `(signer, nonce)` once, across every gateway sharing this store;
    /// durable before this returns.
    pub async fn check_and_record(
        &self,
        signer: &str,
        nonce: &str,
        expiry: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        match self {
            Self::File(g) => g.check_and_record(signer, nonce, expiry, now),
            Self::Postgres(p) => p.check_and_record(signer, nonce, expiry, now).await,
        }
    }
}

/// Nonces in a PostgreSQL table, shared by every gateway that names the database.
#[derive(Debug)]
pub struct PgNonces {
    pool: sqlx::PgPool,
    accepted: std::sync::atomic::AtomicU64,
}

/// Expired entries are dropped once every this many accepted nonces.
const PRUNE_EVERY: u64 = 1024;

fn db(e: sqlx::Error) -> ReplayError {
    ReplayError::Database(e.to_string())
}

impl PgNonces {
    /// Nonces in `pool`'s database (its schema made by [`crate::db::connect`]).
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool, accepted: Default::default() }
    }

    /// Accept `(signer, nonce)` once; committed before this returns.
    pub async fn check_and_record(
        &self,
        signer: &str,
        nonce: &str,
        expiry: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        let secs = |t: u64| crate::db::secs(t).map_err(|e| ReplayError::Database(e.0));
        let done = sqlx::query(
            "INSERT INTO veil_nonces (signer, nonce, expiry) VALUES ($1, $2, $3) \
             ON CONFLICT (signer, nonce) DO UPDATE SET expiry = EXCLUDED.expiry \
             WHERE veil_nonces.expiry < $4",
        )
        .bind(signer.to_ascii_lowercase())
        .bind(nonce)
        .bind(secs(expiry)?)
        .bind(secs(now)?)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(ReplayError::Replayed { signer: signer.to_owned(), nonce: nonce.to_owned() });
        }
        if self.accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(PRUNE_EVERY) {
            // Best effort: a failed prune leaves dead rows, never a wrong answer.
            if let Err(e) = sqlx::query("DELETE FROM veil_nonces WHERE expiry < $1")
                .bind(secs(now)?)
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "pruning expired nonces");
            }
        }
        Ok(())
    }
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
pub(crate) mod tests {
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

    /// A database of its own on the machine's PostgreSQL (scripts/test.sh starts it when
    /// it is not running), dropped by [`TestDb::drop`].
    pub(crate) struct TestDb {
        admin: sqlx::PgPool,
        name: String,
        pub(crate) url: String,
    }

    impl TestDb {
        pub(crate) async fn new() -> Self {
            const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
            let admin = sqlx::PgPool::connect(&format!("{SERVER}/postgres"))
                .await
                .expect("PostgreSQL on 127.0.0.1:5432 (scripts/test.sh starts it)");
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            let name = format!("veil_nonces_{}_{nanos}", std::process::id());
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
            let url = format!("{SERVER}/{name}");
            Self { admin, name, url }
        }

        pub(crate) async fn drop(self) {
            sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
                .execute(&self.admin)
                .await
                .unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gateways_sharing_a_database_accept_each_nonce_once() {
        let db = TestDb::new().await;
        // Two gateways start together on a fresh database: both make the table.
        let (a, b) = tokio::join!(crate::db::connect(&db.url), crate::db::connect(&db.url));
        let (a, b) =
            (std::sync::Arc::new(PgNonces::new(a.unwrap())), std::sync::Arc::new(PgNonces::new(b.unwrap())));
        // 64 nonces, each sent four times at once, twice to each gateway.
        let mut racers = tokio::task::JoinSet::new();
        for n in 0..64 {
            for g in [&a, &b, &a, &b] {
                let g = g.clone();
                racers.spawn(async move { (n, g.check_and_record("0xAB", &n.to_string(), 200, 100).await) });
            }
        }
        let mut accepted = std::collections::BTreeMap::<u32, u32>::new();
        while let Some(r) = racers.join_next().await {
            let (n, r) = r.unwrap();
            match r {
                Ok(()) => *accepted.entry(n).or_default() += 1,
                Err(ReplayError::Replayed { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(accepted.len(), 64, "every nonce accepted");
        assert!(accepted.values().all(|&c| c == 1), "none twice: {accepted:?}");
        // A gateway that restarts still refuses them (signers compared without case).
        drop(a);
        let c = PgNonces::new(crate::db::connect(&db.url).await.unwrap());
        assert!(matches!(c.check_and_record("0xab", "7", 200, 150).await, Err(ReplayError::Replayed { .. })));
        // Past its expiry an entry no longer holds its nonce (its request is refused as
        // expired anyway).
        c.check_and_record("0xab", "7", 800, 201).await.unwrap();
        assert!(c.check_and_record("0xab", "7", 800, 300).await.is_err());
        drop((b, c));
        db.drop().await;
    }

    #[tokio::test]
    async fn a_database_that_goes_away_refuses_rather_than_accepts() {
        let db = TestDb::new().await;
        let g = PgNonces::new(crate::db::connect(&db.url).await.unwrap());
        g.check_and_record("0xab", "1", 200, 100).await.unwrap();
        let url = db.url.clone();
        db.drop().await;
        let err = g.check_and_record("0xab", "2", 200, 100).await.unwrap_err();
        assert!(matches!(err, ReplayError::Database(_)), "{err}");
        assert!(crate::db::connect(&url).await.is_err(), "no database, no gateway");
    }
}
