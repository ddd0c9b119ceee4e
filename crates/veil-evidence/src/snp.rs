//! AMD SEV-SNP attestation reports, verified with the `sev` crate plus the checks it
//! leaves to its callers: certificate validity at the given time, the VCEK's TCB
//! extensions against the report's `reported_tcb`, its hwID against `chip_id`, and
//! the guest policy (debug, migration agent, VMPL) and a minimum TCB.

use std::collections::BTreeMap;

use serde::Deserialize;
use sev::certs::snp::{Certificate, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use crate::{AttestationError, Claims, Tee};

/// AMD's root (ARK), SEV (ASK) and VLEK-signing (ASVK) certificates per product,
/// pinned here: Milan, Genoa, Turin.
static AMD_ROOTS: [&[u8]; 3] = [
    include_bytes!("../roots/amd/milan.pem"),
    include_bytes!("../roots/amd/genoa.pem"),
    include_bytes!("../roots/amd/turin.pem"),
];

/// AMD's pinned certificate bundles (PEM: ASK, ARK, ASVK), one per product.
pub fn amd_roots() -> &'static [&'static [u8]] {
    &AMD_ROOTS
}

/// A TCB version: the security version numbers a firmware stack reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SnpTcb {
    /// PSP bootloader SVN.
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
}

/// What an SEV-SNP guest must satisfy. Debug guests are always refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnpPolicy {
    /// Accept guests whose policy allows a migration agent.
    pub allow_migration_agent: bool,
    /// Highest VMPL (privilege level, 0 = most privileged) whose reports are accepted.
    pub max_vmpl: u32,
    /// Refuse platforms whose reported TCB is below this, component by component.
    pub min_tcb: Option<SnpTcb>,
}

impl Default for SnpPolicy {
    /// VMPL 0 only, no migration agent, no minimum TCB.
    fn default() -> Self {
        Self { allow_migration_agent: false, max_vmpl: 0, min_tcb: None }
    }
}

const OID_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_HW_ID: &str = "1.3.6.1.4.1.3704.1.4";

struct Product {
    ark: Certificate,
    ask: Certificate,
    asvk: Certificate,
}

fn x509(c: &Certificate) -> x509_cert::Certificate {
    c.clone().into()
}

fn subject(c: &Certificate) -> String {
    x509(c).tbs_certificate.subject.to_string()
}

/// Split a PEM bundle and sort it into ARK, ASK and ASVK by subject name.
fn product(bundle: &[u8]) -> Result<Product, AttestationError> {
    let text = std::str::from_utf8(bundle)
        .map_err(|_| AttestationError::Parse("AMD root bundle is not PEM".into()))?;
    let (mut ark, mut ask, mut asvk) = (None, None, None);
    for block in text.split_inclusive("-----END CERTIFICATE-----").filter(|b| b.contains("BEGIN CERTIFICATE"))
    {
        let cert = Certificate::from_pem(block.trim().as_bytes())
            .map_err(|e| AttestationError::Parse(e.to_string()))?;
        let name = subject(&cert);
        if name.contains("CN=ARK-") {
            ark = Some(cert);
        } else if name.contains("CN=SEV-VLEK-") {
            asvk = Some(cert);
        } else if name.contains("CN=SEV-") {
            ask = Some(cert);
        }
    }
    match (ark, ask, asvk) {
        (Some(ark), Some(ask), Some(asvk)) => Ok(Product { ark, ask, asvk }),
        _ => Err(AttestationError::Parse("AMD root bundle needs ARK, ASK and ASVK".into())),
    }
}

fn unix(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
}

fn check_validity(c: &Certificate, what: &str, now: u64) -> Result<u64, AttestationError> {
    let v = x509(c).tbs_certificate.validity;
    let (from, until) = (unix(&v.not_before), unix(&v.not_after));
    if now < from || now > until {
        return Err(AttestationError::CollateralExpired(format!(
            "{what} is valid from {} to {} (unix), not at {now}",
            from, until
        )));
    }
    Ok(until)
}

fn extension(c: &Certificate, oid: &str) -> Option<Vec<u8>> {
    x509(c)
        .tbs_certificate
        .extensions?
        .into_iter()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| e.extn_value.as_bytes().to_vec())
}

/// A TCB extension holds a DER INTEGER 0..=255.
fn spl(c: &Certificate, oid: &str) -> Result<Option<u8>, AttestationError> {
    let Some(v) = extension(c, oid) else {
        return Ok(None);
    };
    let bad = || AttestationError::Chain(format!("VEK extension {oid} is not a small DER INTEGER"));
    match v.as_slice() {
        [0x02, 0x01, x] if *x < 0x80 => Ok(Some(*x)),
        [0x02, 0x02, 0x00, x] if *x >= 0x80 => Ok(Some(*x)),
        _ => Err(bad()),
    }
}

/// Verify an SEV-SNP report (binary, 1184 bytes) signed by `vek_der` (a VCEK or
/// VLEK), chaining to one of the pinned product bundles in `roots`, at `now`.
pub fn verify_snp_report(
    report: &[u8],
    vek_der: &[u8],
    roots: &[&[u8]],
    policy: &SnpPolicy,
    now: u64,
) -> Result<Claims, AttestationError> {
    verify_snp_report_with_crl(report, vek_der, roots, None, policy, now)
}

/// [`verify_snp_report`], also checking the product's CRL (DER, from AMD's KDS) when
/// given: signed by the ARK, current at `now`, revoking neither the ASK/ASVK nor the VEK.
pub fn verify_snp_report_with_crl(
    report: &[u8],
    vek_der: &[u8],
    roots: &[&[u8]],
    crl: Option<&[u8]>,
    policy: &SnpPolicy,
    now: u64,
) -> Result<Claims, AttestationError> {
    let rep = AttestationReport::from_bytes(report)
        .map_err(|e| AttestationError::Parse(format!("SNP report: {e}")))?;
    let vek = Certificate::from_der(vek_der)
        .map_err(|e| AttestationError::Parse(format!("VEK certificate: {e}")))?;
    let vlek = match rep.key_info.signing_key() {
        0 => false,
        1 => true,
        other => {
            return Err(AttestationError::Parse(format!(
                "report signing key {other} is neither VCEK nor VLEK"
            )));
        }
    };

    // Find the product whose chain signs this VEK: ARK (self-signed) -> ASK or ASVK -> VEK.
    let mut chain_error = String::from("no pinned AMD product root");
    let mut found = None;
    for bundle in roots {
        let p = product(bundle)?;
        let inter = if vlek { &p.asvk } else { &p.ask };
        let ok = (&p.ark, &p.ark)
            .verify()
            .and_then(|()| (&p.ark, inter).verify())
            .and_then(|()| (inter, &vek).verify());
        match ok {
            Ok(()) => {
                found = Some((p.ark.clone(), inter.clone()));
                break;
            }
            Err(e) => chain_error = e.to_string(),
        }
    }
    let (ark, inter) = found.ok_or_else(|| {
        AttestationError::Chain(format!("VEK does not chain to a pinned AMD root: {chain_error}"))
    })?;
    (&vek, &rep).verify().map_err(|e| AttestationError::Signature(format!("SNP report: {e}")))?;

    let key_name = if vlek { "VLEK" } else { "VCEK" };
    let inter_name = if vlek { "ASVK" } else { "ASK" };
    let mut expires = [
        check_validity(&ark, "ARK", now)?,
        check_validity(&inter, inter_name, now)?,
        check_validity(&vek, key_name, now)?,
    ]
    .into_iter()
    .min()
    .unwrap_or(0);
    if let Some(crl) = crl {
        let (ark, inter, vek) =
            (x509(&ark).tbs_certificate, x509(&inter).tbs_certificate, x509(&vek).tbs_certificate);
        let spki = der::Encode::to_der(&ark.subject_public_key_info)
            .map_err(|e| AttestationError::Parse(format!("ARK key: {e}")))?;
        let revocable = [(inter_name, &inter.serial_number), (key_name, &vek.serial_number)];
        expires = expires.min(crate::check_amd_crl(crl, &ark.subject, &spki, &revocable, now)?);
    }

    // The VEK certifies one TCB; the report must claim exactly it.
    let r = rep.reported_tcb;
    for (oid, name, reported) in [
        (OID_BL_SPL, "bootloader", r.bootloader),
        (OID_TEE_SPL, "tee", r.tee),
        (OID_SNP_SPL, "snp", r.snp),
        (OID_UCODE_SPL, "microcode", r.microcode),
    ] {
        match spl(&vek, oid)? {
            Some(v) if v == reported => {}
            Some(v) => {
                return Err(AttestationError::Chain(format!(
                    "{key_name} certifies {name} SVN {v} but the report claims {reported}"
                )));
            }
            None => {
                return Err(AttestationError::Chain(format!("{key_name} lacks the {name} TCB extension")));
            }
        }
    }
    if !vlek {
        let hwid =
            extension(&vek, OID_HW_ID).ok_or_else(|| AttestationError::Chain("VCEK lacks hwID".into()))?;
        // The extension holds the 64 raw bytes (some issuers wrap them in an OCTET STRING).
        let hwid = match hwid.as_slice() {
            [0x04, 0x40, rest @ ..] if rest.len() == 64 => rest.to_vec(),
            raw => raw.to_vec(),
        };
        if hwid != rep.chip_id {
            return Err(AttestationError::Chain("VCEK hwID differs from the report's chip_id".into()));
        }
    }

    if rep.policy.debug_allowed() {
        return Err(AttestationError::Debug);
    }
    if rep.policy.migrate_ma_allowed() && !policy.allow_migration_agent {
        return Err(AttestationError::Policy("guest policy allows a migration agent".into()));
    }
    if rep.vmpl > policy.max_vmpl {
        return Err(AttestationError::Policy(format!(
            "report is from VMPL {}, policy allows up to {}",
            rep.vmpl, policy.max_vmpl
        )));
    }
    let tcb_text = format!("bl={} tee={} snp={} ucode={}", r.bootloader, r.tee, r.snp, r.microcode);
    if let Some(min) = policy.min_tcb
        && (r.bootloader < min.bootloader
            || r.tee < min.tee
            || r.snp < min.snp
            || r.microcode < min.microcode)
    {
        return Err(AttestationError::TcbStatus {
            status: format!("reported TCB {tcb_text} below policy minimum"),
            advisories: Vec::new(),
        });
    }

    let mut measurements = BTreeMap::new();
    measurements.insert("measurement".into(), hex::encode(rep.measurement));
    measurements.insert("host_data".into(), hex::encode(rep.host_data));
    measurements.insert("id_key_digest".into(), hex::encode(rep.id_key_digest));
    measurements.insert("author_key_digest".into(), hex::encode(rep.author_key_digest));
    measurements.insert("vmpl".into(), rep.vmpl.to_string());
    let mut platform = BTreeMap::new();
    platform.insert("chip_id".into(), hex::encode(rep.chip_id));
    platform.insert("signing_key".into(), key_name.to_owned());
    platform.insert("reported_tcb".into(), tcb_text.clone());
    Ok(Claims::new(
        Tee::Snp,
        u16::try_from(rep.version).unwrap_or(u16::MAX),
        "TcbCertified".into(),
        Vec::new(),
        measurements,
        hex::encode(rep.report_data),
        platform,
        expires,
        false,
    ))
}
