//! The measurement a policy pins, and the TDX event log that explains it.
//!
//! On TDX, MRTD measures only the firmware: the kernel, its command line and the
//! application are extended into RTMR0–3 at boot and at run time. A policy that pins
//! one register lets any other software on the same firmware through. So Veil pins
//! [`measurement_id`]: one SHA-384 over every register that identifies the software a
//! platform runs ([`identity_registers`]). The platform's own TCB (MRSEAM, SVNs) is not
//! part of it: the TCB-status policy judges that, and a microcode or module update does
//! not change what software a policy names.
//!
//! A guest's event log lists what was extended into each RTMR. [`replay`] recomputes
//! the registers from it, and evidence whose log does not replay to the quoted RTMRs is
//! refused, so a verifier can read which binary, configuration and models a
//! measurement stands for. A log's descriptions are not measured (trust the digests).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha384};

use crate::{AttestationError, Tee};

/// Domain tag of [`measurement_id`].
const DOMAIN: &[u8] = b"veil/measurement/v1\0";

/// A log longer than this is not a guest's (real boots log a few hundred events).
pub const MAX_EVENTS: usize = 4096;

/// The registers that identify the software on `tee`, in the order
/// [`measurement_id`] hashes them.
pub fn identity_registers(tee: Tee) -> &'static [&'static str] {
    match tee {
        Tee::Tdx => {
            &["mr_td", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mr_config_id", "mr_owner", "mr_owner_config"]
        }
        Tee::Snp => &["measurement", "host_data", "id_key_digest", "author_key_digest", "vmpl"],
        Tee::Sgx => &["mr_enclave", "mr_signer", "isv_prod_id", "isv_svn"],
    }
}

fn tee_name(tee: Tee) -> &'static str {
    match tee {
        Tee::Tdx => "tdx",
        Tee::Sgx => "sgx",
        Tee::Snp => "snp",
    }
}

/// The measurement id of the software whose registers (hex values by name) are
/// `registers`: SHA-384 over a domain tag, the platform and each identity register's
/// name and lowercase value, NUL-separated. `None` when a register is missing.
pub fn measurement_id(tee: Tee, registers: &BTreeMap<String, String>) -> Option<String> {
    let mut h = Sha384::new();
    h.update(DOMAIN);
    h.update(tee_name(tee).as_bytes());
    h.update([0]);
    for name in identity_registers(tee) {
        let value = registers.get(*name)?;
        h.update(name.as_bytes());
        h.update([0]);
        h.update(value.to_ascii_lowercase().as_bytes());
        h.update([0]);
    }
    Some(hex::encode(h.finalize()))
}

/// One digest a TDX guest extended into an RTMR, as it logged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxEvent {
    /// The register (0–3).
    pub rtmr: u8,
    /// The SHA-384 digest extended (hex).
    pub digest: String,
    /// What was measured, for people: not covered by the register.
    pub description: String,
}

impl TdxEvent {
    /// The event extending `digest` into RTMR `rtmr`.
    pub fn new(rtmr: u8, digest: [u8; 48], description: impl Into<String>) -> Self {
        Self { rtmr, digest: hex::encode(digest), description: description.into() }
    }
}

/// `register ← SHA-384(register ‖ digest)`, as TDG.MR.RTMR.EXTEND does.
pub fn extend(register: &mut [u8; 48], digest: &[u8; 48]) {
    let mut h = Sha384::new();
    h.update(*register);
    h.update(digest);
    register.copy_from_slice(&h.finalize());
}

/// RTMR0–3 after extending each event's digest, in order, from zero.
pub fn replay(events: &[TdxEvent]) -> Result<[[u8; 48]; 4], AttestationError> {
    let bad = |why: String| AttestationError::EventLog(why);
    if events.len() > MAX_EVENTS {
        return Err(bad(format!("{} events (at most {MAX_EVENTS})", events.len())));
    }
    let mut rtmrs = [[0u8; 48]; 4];
    for (i, e) in events.iter().enumerate() {
        let register = rtmrs
            .get_mut(usize::from(e.rtmr))
            .ok_or_else(|| bad(format!("event {i}: no RTMR {}", e.rtmr)))?;
        let digest: [u8; 48] = hex::decode(&e.digest)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| bad(format!("event {i}: the digest is not 48 bytes of hex")))?;
        extend(register, &digest);
    }
    Ok(rtmrs)
}

/// Check that `events` replay to the RTMRs in verified TDX `registers`.
pub(crate) fn check_event_log(
    tee: Tee,
    registers: &BTreeMap<String, String>,
    events: &[TdxEvent],
) -> Result<(), AttestationError> {
    if tee != Tee::Tdx {
        return Err(AttestationError::EventLog(format!("an event log comes with TDX evidence, not {tee:?}")));
    }
    for (i, replayed) in replay(events)?.iter().enumerate() {
        let quoted = registers.get(&format!("rtmr{i}")).map(String::as_str).unwrap_or_default();
        if !quoted.eq_ignore_ascii_case(&hex::encode(replayed)) {
            return Err(AttestationError::EventLog(format!(
                "the log replays RTMR{i} to {}, but the quote says {quoted}",
                hex::encode(replayed)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tdx_registers() -> BTreeMap<String, String> {
        identity_registers(Tee::Tdx).iter().map(|r| (r.to_string(), "00".repeat(48))).collect()
    }

    #[test]
    fn every_identity_register_changes_the_id_and_case_does_not() {
        let base = tdx_registers();
        let id = measurement_id(Tee::Tdx, &base).unwrap();
        assert_eq!(id.len(), 96);
        for r in identity_registers(Tee::Tdx) {
            let mut changed = base.clone();
            changed.insert(r.to_string(), format!("01{}", "00".repeat(47)));
            assert_ne!(measurement_id(Tee::Tdx, &changed).unwrap(), id, "{r}");
        }
        let mut upper = base.clone();
        upper.insert("mr_td".into(), "AB".repeat(48));
        let mut lower = base.clone();
        lower.insert("mr_td".into(), "ab".repeat(48));
        assert_eq!(measurement_id(Tee::Tdx, &upper), measurement_id(Tee::Tdx, &lower));
        // The platform is part of the id, and a missing register gives none.
        let mut snp = base.clone();
        for r in identity_registers(Tee::Snp) {
            snp.insert(r.to_string(), "00".repeat(48));
        }
        assert_ne!(measurement_id(Tee::Snp, &snp), measurement_id(Tee::Tdx, &snp));
        let mut missing = base;
        missing.remove("rtmr3");
        assert_eq!(measurement_id(Tee::Tdx, &missing), None);
    }

    #[test]
    fn a_log_replays_to_its_registers_and_any_change_shows() {
        let events = vec![
            TdxEvent::new(0, [1; 48], "firmware config"),
            TdxEvent::new(3, [2; 48], "binary"),
            TdxEvent::new(3, [3; 48], "config"),
        ];
        let rtmrs = replay(&events).unwrap();
        let mut registers = tdx_registers();
        for (i, r) in rtmrs.iter().enumerate() {
            registers.insert(format!("rtmr{i}"), hex::encode(r));
        }
        assert_eq!(rtmrs[1], [0; 48]);
        check_event_log(Tee::Tdx, &registers, &events).unwrap();
        // Reordered, dropped, moved to another register, or a digest edited: refused.
        let mut reordered = events.clone();
        reordered.swap(1, 2);
        let mut moved = events.clone();
        moved[1].rtmr = 2;
        let mut edited = events.clone();
        edited[2].digest = hex::encode([4u8; 48]);
        for bad in [reordered, events[..2].to_vec(), moved, edited] {
            assert_ne!(bad, events);
            let e = check_event_log(Tee::Tdx, &registers, &bad).unwrap_err();
            assert_eq!(e.code(), "attestation.event_log");
        }
        let mut no_rtmr = events.clone();
        no_rtmr[0].rtmr = 4;
        assert!(replay(&no_rtmr).is_err());
        assert!(check_event_log(Tee::Snp, &registers, &events).is_err());
    }
}
