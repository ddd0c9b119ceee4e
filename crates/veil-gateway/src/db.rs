//! State several gateways share, in PostgreSQL: request nonces (`veil_nonces`, see
//! replay.rs) and the receipts they hand out (`veil_receipts`), so a receipt one gateway
//! kept is found by `GET /v1/receipts/{id}` at every other.
//!
//! The schema is made at start, in one transaction under an advisory lock (gateways
//! starting together do not race on `CREATE TABLE`); queries are built at run time, so
//! nothing needs a database at compile time. A receipt row is written (committed)
//! before its answer leaves, under the id the gateway computed from the verified bytes.

use std::path::PathBuf;

use sqlx::PgPool;

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct DatabaseError(pub String);

fn db(e: sqlx::Error) -> DatabaseError {
    DatabaseError(e.to_string())
}

/// Connect to the database at `url` (`postgres://…`) and make the schema if needed.
pub async fn connect(url: &str) -> Result<PgPool, DatabaseError> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(db)?;
    let mut tx = pool.begin().await.map_err(db)?;
    // 'veil' in ASCII: one lock for every Veil gateway's schema step.
    sqlx::query("SELECT pg_advisory_xact_lock(1986357612)").execute(&mut *tx).await.map_err(db)?;
    for ddl in [
        "CREATE TABLE IF NOT EXISTS veil_nonces (signer TEXT NOT NULL, nonce TEXT NOT NULL, \
         expiry BIGINT NOT NULL, PRIMARY KEY (signer, nonce))",
        "CREATE TABLE IF NOT EXISTS veil_receipts (id TEXT PRIMARY KEY, body BYTEA NOT NULL, \
         inclusion BYTEA, kept_at BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS veil_receipts_kept_at ON veil_receipts (kept_at)",
    ] {
        sqlx::query(ddl).execute(&mut *tx).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(pool)
}

/// Where kept receipts live.
#[derive(Debug, Clone)]
pub enum Receipts {
    /// `<id>.json` files (and `<id>.inclusion`) in a directory: one gateway.
    Dir(PathBuf),
    /// The `veil_receipts` table: every gateway on the database.
    Postgres(PgPool),
}

/// One kept receipt's row or files: its bytes, or its inclusion.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Body,
    Inclusion,
}

impl Receipts {
    /// Keep `bytes` (a verified receipt) under `hexid`; committed before this returns.
    pub(crate) async fn put(&self, hexid: &str, bytes: &[u8], now: u64) -> Result<(), DatabaseError> {
        match self {
            Self::Dir(dir) => veil_fs::write_atomic(dir.join(format!("{hexid}.json")), bytes)
                .map_err(|e| DatabaseError(e.to_string())),
            // The same id is the same bytes: a second keep changes nothing.
            Self::Postgres(pool) => sqlx::query(
                "INSERT INTO veil_receipts (id, body, kept_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(hexid)
            .bind(bytes)
            .bind(secs(now)?)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(db),
        }
    }

    /// Keep the transparency log's inclusion of the receipt kept under `hexid`.
    pub(crate) async fn put_inclusion(&self, hexid: &str, json: &[u8]) -> Result<(), DatabaseError> {
        match self {
            Self::Dir(dir) => veil_fs::write_atomic(dir.join(format!("{hexid}.{INCLUSION_EXT}")), json)
                .map_err(|e| DatabaseError(e.to_string())),
            Self::Postgres(pool) => sqlx::query("UPDATE veil_receipts SET inclusion = $2 WHERE id = $1")
                .bind(hexid)
                .bind(json)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(db),
        }
    }

    /// A kept receipt's bytes or inclusion; `None` when there is none.
    pub(crate) async fn get(&self, hexid: &str, part: Part) -> Result<Option<Vec<u8>>, DatabaseError> {
        match self {
            Self::Dir(dir) => {
                let ext = match part {
                    Part::Body => "json",
                    Part::Inclusion => INCLUSION_EXT,
                };
                Ok(std::fs::read(dir.join(format!("{hexid}.{ext}"))).ok())
            }
            Self::Postgres(pool) => {
                let sql = match part {
                    Part::Body => "SELECT body FROM veil_receipts WHERE id = $1",
                    Part::Inclusion => "SELECT inclusion FROM veil_receipts WHERE id = $1",
                };
                let row: Option<(Option<Vec<u8>>,)> =
                    sqlx::query_as(sql).bind(hexid).fetch_optional(pool).await.map_err(db)?;
                Ok(row.and_then(|(b,)| b))
            }
        }
    }

    /// Drop receipts past `retention` at `now`; how many were dropped.
    pub(crate) async fn prune(&self, retention: crate::Retention, now: u64) -> Result<u64, DatabaseError> {
        match self {
            Self::Dir(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || prune_dir(&dir, retention, now))
                    .await
                    .map_err(|e| DatabaseError(e.to_string()))?
                    .map(|n| n as u64)
                    .map_err(|e| DatabaseError(e.to_string()))
            }
            Self::Postgres(pool) => {
                let old = sqlx::query("DELETE FROM veil_receipts WHERE kept_at < $1")
                    .bind(secs(now.saturating_sub(retention.max_age_secs))?)
                    .execute(pool)
                    .await
                    .map_err(db)?;
                let count = i64::try_from(retention.max_count).unwrap_or(i64::MAX);
                let over = sqlx::query(
                    "DELETE FROM veil_receipts WHERE id IN \
                     (SELECT id FROM veil_receipts ORDER BY kept_at DESC, id OFFSET $1)",
                )
                .bind(count)
                .execute(pool)
                .await
                .map_err(db)?;
                Ok(old.rows_affected() + over.rows_affected())
            }
        }
    }
}

/// Unix seconds as PostgreSQL's BIGINT.
pub(crate) fn secs(t: u64) -> Result<i64, DatabaseError> {
    i64::try_from(t).map_err(|_| DatabaseError(format!("time {t} out of range")))
}

/// The extension of a receipt's inclusion file beside `<id>.json` (not `.json`, so
/// listings and pruning count receipts only).
pub(crate) const INCLUSION_EXT: &str = "inclusion";

/// Drop receipt files past `retention` at `now` (unix seconds, by file time); how many.
pub(crate) fn prune_dir(
    dir: &std::path::Path,
    retention: crate::Retention,
    now: u64,
) -> std::io::Result<usize> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let at =
            entry.metadata()?.modified()?.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        files.push((at, path));
    }
    files.sort();
    let too_many = files.len().saturating_sub(retention.max_count);
    let mut dropped = 0;
    for (i, (at, path)) in files.iter().enumerate() {
        if i < too_many || now.saturating_sub(*at) > retention.max_age_secs {
            std::fs::remove_file(path)?;
            let _ = std::fs::remove_file(path.with_extension(INCLUSION_EXT));
            dropped += 1;
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::{Part, Receipts, connect};
    use crate::Retention;
    use crate::replay::tests::TestDb;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receipt_one_gateway_kept_is_found_at_another_within_retention() {
        let db = TestDb::new().await;
        let (a, b) = tokio::join!(connect(&db.url), connect(&db.url));
        let (a, b) = (Receipts::Postgres(a.unwrap()), Receipts::Postgres(b.unwrap()));
        a.put("aa", b"first", 100).await.unwrap();
        a.put_inclusion("aa", b"{\"index\":0}").await.unwrap();
        assert_eq!(b.get("aa", Part::Body).await.unwrap().as_deref(), Some(&b"first"[..]));
        assert_eq!(b.get("aa", Part::Inclusion).await.unwrap().as_deref(), Some(&b"{\"index\":0}"[..]));
        // Kept twice (a retried answer): the first bytes stay.
        b.put("aa", b"second", 150).await.unwrap();
        assert_eq!(a.get("aa", Part::Body).await.unwrap().as_deref(), Some(&b"first"[..]));
        assert_eq!(a.get("bb", Part::Body).await.unwrap(), None);
        b.put("bb", b"later", 200).await.unwrap();
        assert_eq!(b.get("bb", Part::Inclusion).await.unwrap(), None, "no inclusion yet");
        b.put("cc", b"latest", 300).await.unwrap();
        // By age (at 350, 200 s: aa goes), then by count (one left: the newest).
        assert_eq!(a.prune(Retention { max_age_secs: 200, max_count: 10 }, 350).await.unwrap(), 1);
        assert_eq!(b.get("aa", Part::Body).await.unwrap(), None);
        assert_eq!(a.prune(Retention { max_age_secs: 1000, max_count: 1 }, 350).await.unwrap(), 1);
        assert_eq!(b.get("bb", Part::Body).await.unwrap(), None);
        assert!(b.get("cc", Part::Body).await.unwrap().is_some());
        drop((a, b));
        db.drop().await;
    }
}
