//! The chain's only durable state: an append-only log of the raw transactions it
//! mined, each with the block number and timestamp it was mined at and a digest of
//! its outcome, so that replay is deterministic and a divergence is caught.
//!
//! Layout: `VEILCHN1` ‖ genesis hash (32), then records of
//! `len u32le ‖ payload ‖ check[8]` where payload = `number u64le ‖ timestamp u64le ‖
//! outcome[32] ‖ raw tx` and check = SHA-256("veil/chain/record/v1\0" ‖ len ‖ payload)[..8].
//!
//! A record that runs to or past the end of the file is a torn append (the process
//! died mid-write) and is cut off on open; a bad record with data after it is
//! corruption and refuses to open.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use alloy::primitives::{B256, Bytes};
use sha2::{Digest, Sha256};

use crate::ChainError;

const MAGIC: &[u8; 8] = b"VEILCHN1";
const HEADER_LEN: u64 = 40;
const CHECK_LEN: usize = 8;
const FIXED_PAYLOAD: usize = 8 + 8 + 32;
/// The largest raw transaction the chain accepts (geth's txpool limit is 128 KiB;
/// contract deployments of Veil's size fit well within this).
pub const MAX_RAW_TX: usize = 512 * 1024;

/// One mined transaction as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The block it was mined in.
    pub number: u64,
    /// That block's timestamp.
    pub timestamp: u64,
    /// Digest of its receipt, checked on replay.
    pub outcome: B256,
    /// The signed transaction, EIP-2718 encoded.
    pub raw: Bytes,
}

impl Record {
    fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(FIXED_PAYLOAD + self.raw.len());
        p.extend_from_slice(&self.number.to_le_bytes());
        p.extend_from_slice(&self.timestamp.to_le_bytes());
        p.extend_from_slice(self.outcome.as_slice());
        p.extend_from_slice(&self.raw);
        p
    }

    fn from_payload(p: &[u8]) -> Option<Self> {
        if p.len() < FIXED_PAYLOAD {
            return None;
        }
        let number = u64::from_le_bytes(p[..8].try_into().ok()?);
        let timestamp = u64::from_le_bytes(p[8..16].try_into().ok()?);
        let outcome = B256::from_slice(&p[16..48]);
        Some(Self { number, timestamp, outcome, raw: Bytes::copy_from_slice(&p[48..]) })
    }
}

fn check(len: u32, payload: &[u8]) -> [u8; CHECK_LEN] {
    let mut h = Sha256::new();
    h.update(b"veil/chain/record/v1\0");
    h.update(len.to_le_bytes());
    h.update(payload);
    let d = h.finalize();
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&d[..CHECK_LEN]);
    out
}

/// Encode one record as it sits in the file.
pub fn encode(record: &Record) -> Vec<u8> {
    let payload = record.payload();
    let len = u32::try_from(payload.len()).expect("bounded by MAX_RAW_TX");
    let mut out = Vec::with_capacity(4 + payload.len() + CHECK_LEN);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&check(len, &payload));
    out
}

/// What opening found.
#[derive(Debug)]
pub struct Opened {
    /// The log, ready to append.
    pub log: TxLog,
    /// Every intact record, in order.
    pub records: Vec<Record>,
    /// Bytes of a torn final append that were cut off (0 after a clean stop).
    pub truncated: u64,
}

/// The open, exclusively locked log.
#[derive(Debug)]
pub struct TxLog {
    file: File,
    len: u64,
    poisoned: bool,
}

impl TxLog {
    /// Open (or create) the log at `path` for `genesis`, taking an exclusive lock so
    /// that two processes never append to one chain.
    pub fn open(path: &Path, genesis: B256) -> Result<Opened, ChainError> {
        let io = |e: std::io::Error| ChainError::Io(format!("{}: {e}", path.display()));
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ChainError::Locked(path.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        if bytes.is_empty() {
            let mut header = Vec::with_capacity(HEADER_LEN as usize);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(genesis.as_slice());
            file.write_all(&header).map_err(io)?;
            file.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                veil_fs::sync_dir(dir).map_err(io)?;
            }
            return Ok(Opened {
                log: Self { file, len: HEADER_LEN, poisoned: false },
                records: Vec::new(),
                truncated: 0,
            });
        }
        if bytes.len() < HEADER_LEN as usize || &bytes[..8] != MAGIC {
            return Err(ChainError::Corrupt { offset: 0, reason: "not a Veil chain log".into() });
        }
        if bytes[8..40] != genesis[..] {
            return Err(ChainError::GenesisMismatch);
        }
        let (records, good) = scan(&bytes)?;
        let truncated = bytes.len() as u64 - good;
        if truncated > 0 {
            file.set_len(good).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::Start(good)).map_err(io)?;
        Ok(Opened { log: Self { file, len: good, poisoned: false }, records, truncated })
    }

    /// Append one record and fsync it; on failure the file is cut back so that what
    /// is on disk never runs ahead of what was acknowledged.
    pub fn append(&mut self, record: &Record) -> Result<(), ChainError> {
        if self.poisoned {
            return Err(ChainError::Io(
                "the chain log failed earlier and could not be repaired; restart the node".into(),
            ));
        }
        let bytes = encode(record);
        let written = self.file.write_all(&bytes).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let repaired = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.len)).map(|_| ()))
                .and_then(|()| self.file.sync_data());
            if repaired.is_err() {
                self.poisoned = true;
            }
            return Err(ChainError::Io(format!("appending to the chain log: {e}")));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Bytes on disk, header included.
    pub fn bytes(&self) -> u64 {
        self.len
    }
}

/// Parse the records after the header; returns them and the offset where the intact
/// prefix ends.
fn scan(bytes: &[u8]) -> Result<(Vec<Record>, u64), ChainError> {
    let end = bytes.len();
    let mut pos = HEADER_LEN as usize;
    let mut records = Vec::new();
    while pos < end {
        let torn = || Ok::<_, ChainError>((pos as u64, true));
        let outcome: Result<(u64, bool), ChainError> = (|| {
            if end - pos < 4 {
                return torn();
            }
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"));
            let record_end = pos.saturating_add(4 + len as usize + CHECK_LEN);
            if record_end > end {
                return torn();
            }
            let payload = &bytes[pos + 4..pos + 4 + len as usize];
            let good = len as usize <= FIXED_PAYLOAD + MAX_RAW_TX
                && bytes[pos + 4 + len as usize..record_end] == check(len, payload);
            let record = good.then(|| Record::from_payload(payload)).flatten();
            match record {
                Some(r) => {
                    records.push(r);
                    Ok((record_end as u64, false))
                }
                // The last record is bad: an append whose bytes did not all land.
                None if record_end == end => torn(),
                None => Err(ChainError::Corrupt {
                    offset: pos as u64,
                    reason: "record checksum mismatch with more records after it".into(),
                }),
            }
        })();
        let (next, stop) = outcome?;
        if stop {
            return Ok((records, next));
        }
        pos = next as usize;
    }
    Ok((records, pos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64, raw: &[u8]) -> Record {
        Record {
            number: n,
            timestamp: 1_700_000_000 + n,
            outcome: B256::repeat_byte(n as u8),
            raw: Bytes::copy_from_slice(raw),
        }
    }

    fn write_log(dir: &Path, genesis: B256, records: &[Record]) -> std::path::PathBuf {
        let path = dir.join("txs.log");
        let mut opened = TxLog::open(&path, genesis).unwrap();
        for r in records {
            opened.log.append(r).unwrap();
        }
        path
    }

    #[test]
    fn records_round_trip_and_reopen_appends_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let g = B256::repeat_byte(7);
        let rs = vec![record(1, b"one"), record(2, &[0u8; 1000]), record(3, b"")];
        let path = write_log(dir.path(), g, &rs);
        let opened = TxLog::open(&path, g).unwrap();
        assert_eq!(opened.records, rs);
        assert_eq!(opened.truncated, 0);
        let mut log = opened.log;
        log.append(&record(4, b"four")).unwrap();
        drop(log);
        let again = TxLog::open(&path, g).unwrap();
        assert_eq!(again.records.len(), 4);
        assert_eq!(again.records[3], record(4, b"four"));
    }

    #[test]
    fn a_torn_final_append_is_cut_at_every_length() {
        let dir = tempfile::tempdir().unwrap();
        let g = B256::repeat_byte(1);
        let rs = vec![record(1, b"first"), record(2, b"second tx bytes")];
        let path = write_log(dir.path(), g, &rs);
        let full = std::fs::read(&path).unwrap();
        let last = encode(&rs[1]).len();
        for cut in 1..last {
            let torn = &full[..full.len() - cut];
            std::fs::write(&path, torn).unwrap();
            let opened = TxLog::open(&path, g).unwrap();
            assert_eq!(opened.records, rs[..1], "cut {cut}");
            assert_eq!(opened.truncated as usize, last - cut);
            drop(opened);
            assert_eq!(std::fs::read(&path).unwrap().len(), full.len() - last);
        }
    }

    #[test]
    fn a_final_record_with_garbage_is_torn_but_a_middle_one_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let g = B256::repeat_byte(2);
        let rs = vec![record(1, b"a"), record(2, b"bb"), record(3, b"ccc")];
        let path = write_log(dir.path(), g, &rs);
        let full = std::fs::read(&path).unwrap();

        let mut tail = full.clone();
        let n = tail.len();
        tail[n - 3] ^= 0x40;
        assert_ne!(tail, full);
        std::fs::write(&path, &tail).unwrap();
        assert_eq!(TxLog::open(&path, g).unwrap().records, rs[..2]);

        let mut middle = full.clone();
        let at = HEADER_LEN as usize + encode(&rs[0]).len() + 6;
        middle[at] ^= 0x01;
        assert_ne!(middle, full);
        std::fs::write(&path, &middle).unwrap();
        match TxLog::open(&path, g) {
            Err(ChainError::Corrupt { offset, .. }) => {
                assert_eq!(offset, HEADER_LEN + encode(&rs[0]).len() as u64)
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), middle, "nothing cut off");
    }

    #[test]
    fn another_genesis_or_file_is_refused_and_a_second_opener_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), B256::repeat_byte(3), &[record(1, b"x")]);
        assert!(matches!(TxLog::open(&path, B256::repeat_byte(4)), Err(ChainError::GenesisMismatch)));
        let held = TxLog::open(&path, B256::repeat_byte(3)).unwrap();
        assert!(matches!(TxLog::open(&path, B256::repeat_byte(3)), Err(ChainError::Locked(_))));
        drop(held);
        let other = dir.path().join("other");
        std::fs::write(&other, b"hello world, this is not a chain log at all").unwrap();
        assert!(matches!(TxLog::open(&other, B256::ZERO), Err(ChainError::Corrupt { offset: 0, .. })));
    }

    proptest::proptest! {
        #[test]
        fn any_prefix_opens_to_a_prefix_of_the_records(
            raws in proptest::collection::vec(proptest::collection::vec(0u8..=255, 0..200), 1..6),
            cut_frac in 0.0f64..1.0,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let g = B256::repeat_byte(9);
            let rs: Vec<Record> = raws.iter().enumerate().map(|(i, r)| record(i as u64 + 1, r)).collect();
            let path = write_log(dir.path(), g, &rs);
            let full = std::fs::read(&path).unwrap();
            let keep = HEADER_LEN as usize + ((full.len() - HEADER_LEN as usize) as f64 * cut_frac) as usize;
            std::fs::write(&path, &full[..keep]).unwrap();
            let opened = TxLog::open(&path, g).unwrap();
            proptest::prop_assert!(opened.records.len() <= rs.len());
            proptest::prop_assert_eq!(&opened.records[..], &rs[..opened.records.len()]);
        }
    }
}
