//! Producing evidence inside a TEE guest.
//!
//! An [`Attester`] turns 64 bytes of report data into raw hardware evidence. The
//! backend here is Linux's configfs-tsm (`/sys/kernel/config/tsm/report`), the one
//! interface the kernel offers TDX and SEV-SNP guests: make an entry directory, write
//! `inblob`, read `outblob` (and `auxblob`, the SNP certificates), and check that
//! `generation` moved by exactly one so no other writer interleaved.
#![forbid(unsafe_code)]

mod binding;

pub use binding::{evidence_for, evidence_with_purpose, runtime_data};

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use veil_evidence::Tee;

/// Where the kernel exposes configfs-tsm reports.
pub const CONFIGFS_TSM_REPORT: &str = "/sys/kernel/config/tsm/report";

/// Why evidence could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum AttesterError {
    /// The directory does not behave like a configfs-tsm report entry.
    #[error("{0} is not a configfs-tsm report entry: {1}")]
    NotConfigfs(PathBuf, String),
    /// The provider is not one Veil knows.
    #[error("unsupported TSM provider {0:?} (expected tdx_guest or sev_guest)")]
    UnsupportedProvider(String),
    /// Another writer used the entry between our write and read.
    #[error("the report entry was written concurrently (generation {before} -> {after})")]
    Race {
        /// Generation before our write.
        before: u64,
        /// Generation after our read.
        after: u64,
    },
    /// The kernel returned no evidence.
    #[error("the kernel returned an empty outblob")]
    Empty,
    /// The simulated TEE could not produce evidence.
    #[error("simulated TEE: {0}")]
    Simulator(String),
    /// The runtime data could not be turned into report data.
    #[error("binding the runtime data: {0}")]
    Binding(#[from] veil_evidence::AttestationError),
    /// Filesystem access failed.
    #[error("configfs-tsm I/O on {0}: {1}")]
    Io(PathBuf, io::Error),
}

/// Raw evidence as the hardware produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvidence {
    /// Which TEE produced it.
    pub tee: Tee,
    /// The quote (TDX) or attestation report (SNP).
    pub quote: Vec<u8>,
    /// Extra blobs (SNP: the certificate table with the VCEK/VLEK), if any.
    pub auxblob: Option<Vec<u8>>,
    /// Collateral the attester already holds (the simulator's PCCS), if any.
    pub collateral: Option<serde_json::Value>,
    /// TDX: the RTMR event log the guest kept, if it has one to give.
    pub event_log: Option<Vec<veil_evidence::TdxEvent>>,
}

/// Something that can produce evidence binding `report_data`.
pub trait Attester: Send + Sync {
    /// Produce evidence whose report_data field equals `report_data`.
    fn attest(&self, report_data: &[u8; 64]) -> Result<RawEvidence, AttesterError>;
}

/// The Linux configfs-tsm backend.
#[derive(Debug, Clone)]
pub struct ConfigfsTsm {
    base: PathBuf,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> AttesterError + '_ {
    move |e| AttesterError::Io(path.to_path_buf(), e)
}

fn read_attr(entry: &Path, name: &str) -> Result<Vec<u8>, AttesterError> {
    let p = entry.join(name);
    fs::read(&p).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            AttesterError::NotConfigfs(entry.to_path_buf(), format!("no {name} attribute"))
        }
        _ => AttesterError::Io(p.clone(), e),
    })
}

fn read_u64(entry: &Path, name: &str) -> Result<u64, AttesterError> {
    let raw = read_attr(entry, name)?;
    std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| AttesterError::NotConfigfs(entry.to_path_buf(), format!("{name} is not a number")))
}

/// Removes the entry directory when the report is done (configfs frees it on rmdir).
struct EntryGuard(PathBuf);

impl Drop for EntryGuard {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

impl ConfigfsTsm {
    /// A backend over the kernel's report directory (or a test double of it).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// Run one report in an entry that already exists (configfs creates its
    /// attributes on `mkdir`). Fails with [`AttesterError::Race`] if the generation
    /// did not advance by exactly our one write.
    pub fn report_in(&self, entry: &Path, report_data: &[u8; 64]) -> Result<RawEvidence, AttesterError> {
        let provider_raw = read_attr(entry, "provider")?;
        let provider = String::from_utf8_lossy(&provider_raw).trim().to_owned();
        let tee = match provider.as_str() {
            "tdx_guest" => Tee::Tdx,
            "sev_guest" => Tee::Snp,
            _ => return Err(AttesterError::UnsupportedProvider(provider)),
        };
        let before = read_u64(entry, "generation")?;
        let inblob = entry.join("inblob");
        // One write call: the kernel takes the blob from a single write.
        let mut f = fs::OpenOptions::new().write(true).open(&inblob).map_err(io_at(&inblob))?;
        f.write_all(report_data).map_err(io_at(&inblob))?;
        drop(f);
        let quote = read_attr(entry, "outblob")?;
        let auxblob = match fs::read(entry.join("auxblob")) {
            Ok(b) if !b.is_empty() => Some(b),
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(AttesterError::Io(entry.join("auxblob"), e)),
        };
        let after = read_u64(entry, "generation")?;
        if after != before + 1 {
            return Err(AttesterError::Race { before, after });
        }
        if quote.is_empty() {
            return Err(AttesterError::Empty);
        }
        Ok(RawEvidence { tee, quote, auxblob, collateral: None, event_log: None })
    }

    fn fresh_entry(&self) -> Result<EntryGuard, AttesterError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let entry = self.base.join(format!("veil-{}-{nanos}", std::process::id()));
        fs::create_dir(&entry).map_err(io_at(&entry))?;
        Ok(EntryGuard(entry))
    }
}

impl Attester for ConfigfsTsm {
    /// A private entry per report, retried when another writer raced us.
    fn attest(&self, report_data: &[u8; 64]) -> Result<RawEvidence, AttesterError> {
        let mut last = None;
        for _ in 0..3 {
            let entry = self.fresh_entry()?;
            match self.report_in(&entry.0, report_data) {
                Err(e @ AttesterError::Race { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or(AttesterError::Empty))
    }
}
