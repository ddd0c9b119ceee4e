//! The development vendor PKI and the collateral it publishes, as Intel's PCS would.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension, DistinguishedName,
    DnType, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, RevocationReason, RevokedCertParams, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::SimError;
use crate::der::{octets, oid, seq, uint};
use crate::keys::DevKey;
use crate::quote::{QuotingEnclave, TdReport};

/// The simulated platform's FMSPC (family-model-stepping-platform-customSKU).
pub const DEV_FMSPC: [u8; 6] = [0xDE, 0x5E, 0x11, 0x00, 0x00, 0x00];
/// Another platform's FMSPC, for the wrong-FMSPC fault.
const OTHER_FMSPC: [u8; 6] = [0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00];
/// The platform's TCB: CPU SVN components, PCE SVN and TEE TCB SVN.
const CPU_SVN: [u8; 16] = [2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
const PCE_SVN: u16 = 11;
const TEE_TCB_SVN: [u8; 16] = [5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const QE_ISV_PROD_ID: u16 = 2;
const QE_ISV_SVN: u16 = 4;
/// Collateral is published for this long, as Intel's is.
const COLLATERAL_VALIDITY_SECS: u64 = 30 * 24 * 3600;
const TCB_DATE: &str = "2025-01-01T00:00:00Z";

/// What is wrong with a platform or its collateral; the default is nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// The TD runs with debugging enabled.
    pub debug: bool,
    /// The platform's TCB status in the TCB info (default `UpToDate`); any other
    /// status puts an `UpToDate` level above it that the platform does not meet.
    pub tcb_status: Option<String>,
    /// Advisories listed at the platform's TCB level.
    pub advisories: Vec<String>,
    /// The PCK CA's CRL lists the platform's PCK certificate.
    pub revoked_pck: bool,
    /// The collateral's publication window ended before the requested time.
    pub expired_collateral: bool,
    /// The TCB info describes another platform family (FMSPC).
    pub wrong_fmspc: bool,
}

struct Ca {
    key: DevKey,
    params: CertificateParams,
    der: Vec<u8>,
    pem: String,
}

/// A seeded development PKI: every key and certificate is a function of the seed.
pub struct DevPki {
    root: Ca,
    pck_ca: Ca,
    tcb_signer: Ca,
    pck: Ca,
    attestation_key: DevKey,
}

impl std::fmt::Debug for DevPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevPki").field("root", &hex::encode(&self.root.der)).finish_non_exhaustive()
    }
}

fn pki_err(e: rcgen::Error) -> SimError {
    SimError::Pki(e.to_string())
}

fn datetime(unix: u64) -> Result<OffsetDateTime, SimError> {
    i64::try_from(unix)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .ok_or(SimError::Time(unix))
}

fn rfc3339(unix: u64) -> Result<String, SimError> {
    datetime(unix)?.format(&Rfc3339).map_err(|_| SimError::Time(unix))
}

fn key_id(key: &DevKey) -> KeyIdMethod {
    KeyIdMethod::PreSpecified(Sha256::digest(rcgen::PublicKeyData::der_bytes(key))[..20].to_vec())
}

fn params(cn: &str, serial: u8, key: &DevKey) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "Veil development PKI (not Intel)");
    p.distinguished_name = dn;
    p.serial_number = Some(SerialNumber::from(vec![serial]));
    // Fixed dates so that the seed alone fixes every certificate byte.
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2049, 12, 31);
    p.key_identifier_method = key_id(key);
    p.use_authority_key_identifier_extension = true;
    p
}

/// Intel's SGX extension (OID 1.2.840.113741.1.13.1) with the platform's TCB.
fn sgx_extension(ppid: &[u8; 16]) -> Vec<u8> {
    const SGX: [u64; 7] = [1, 2, 840, 113741, 1, 13, 1];
    let sub = |arcs: &[u64]| oid(&[&SGX[..], arcs].concat());
    let mut tcb: Vec<Vec<u8>> =
        (1..=16u64).map(|i| seq(&[sub(&[2, i]), uint(0x02, CPU_SVN[i as usize - 1].into())])).collect();
    tcb.push(seq(&[sub(&[2, 17]), uint(0x02, PCE_SVN.into())]));
    tcb.push(seq(&[sub(&[2, 18]), octets(&CPU_SVN)]));
    seq(&[
        seq(&[sub(&[1]), octets(ppid)]),
        seq(&[sub(&[2]), seq(&tcb)]),
        seq(&[sub(&[3]), octets(&[0, 0])]),
        seq(&[sub(&[4]), octets(&DEV_FMSPC)]),
        seq(&[sub(&[5]), uint(0x0a, 0)]), // SGX type: Standard
    ])
}

impl Ca {
    fn build(key: DevKey, params: CertificateParams, issuer: Option<&Ca>) -> Result<Self, SimError> {
        let cert = match issuer {
            None => params.self_signed(&key),
            Some(i) => params.signed_by(&key, &Issuer::from_params(&i.params, &i.key)),
        }
        .map_err(pki_err)?;
        Ok(Self { key, params, der: cert.der().to_vec(), pem: cert.pem() })
    }

    fn crl(&self, this_update: u64, revoked: &[&Ca]) -> Result<Vec<u8>, SimError> {
        let crl = CertificateRevocationListParams {
            this_update: datetime(this_update)?,
            next_update: datetime(this_update + COLLATERAL_VALIDITY_SECS)?,
            crl_number: SerialNumber::from(vec![1]),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|c| {
                    Ok(RevokedCertParams {
                        serial_number: c.params.serial_number.clone().unwrap_or_else(|| vec![0].into()),
                        revocation_time: datetime(this_update)?,
                        reason_code: Some(RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    })
                })
                .collect::<Result<_, SimError>>()?,
            key_identifier_method: key_id(&self.key),
        };
        Ok(crl.signed_by(&Issuer::from_params(&self.params, &self.key)).map_err(pki_err)?.der().to_vec())
    }
}

impl DevPki {
    /// The PKI derived from `seed`. The same seed always gives the same root.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, SimError> {
        let k = |name: &str| DevKey::derive(seed, name);
        let ca_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let leaf_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];

        let root_key = k("root");
        let mut p = params("Veil Dev SGX Root CA", 1, &root_key);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = ca_usages.clone();
        p.use_authority_key_identifier_extension = false;
        let root = Ca::build(root_key, p, None)?;

        let pck_ca_key = k("pck-ca");
        let mut p = params("Veil Dev SGX PCK Platform CA", 2, &pck_ca_key);
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = ca_usages;
        let pck_ca = Ca::build(pck_ca_key, p, Some(&root))?;

        let tcb_key = k("tcb-signing");
        let mut p = params("Veil Dev SGX TCB Signing", 3, &tcb_key);
        p.key_usages = leaf_usages.clone();
        let tcb_signer = Ca::build(tcb_key, p, Some(&root))?;

        let pck_key = k("pck");
        let mut p = params("Veil Dev SGX PCK Certificate", 4, &pck_key);
        p.key_usages = leaf_usages;
        let ppid: [u8; 16] = Sha256::digest([b"veil/sim-tee/ppid".as_slice(), seed].concat())[..16]
            .try_into()
            .expect("16 of 32 bytes");
        p.custom_extensions =
            vec![CustomExtension::from_oid_content(&[1, 2, 840, 113741, 1, 13, 1], sgx_extension(&ppid))];
        let pck = Ca::build(pck_key, p, Some(&pck_ca))?;

        Ok(Self { root, pck_ca, tcb_signer, pck, attestation_key: k("attestation-key") })
    }

    /// The dev root certificate (DER): what a configuration must name to trust it.
    pub fn root_der(&self) -> &[u8] {
        &self.root.der
    }

    /// The dev root certificate (PEM).
    pub fn root_pem(&self) -> &str {
        &self.root.pem
    }

    fn qe_mr_signer(&self) -> [u8; 32] {
        Sha256::digest([b"veil/sim-tee/qe/mr_signer".as_slice(), &self.root.der].concat()).into()
    }

    /// A signed TDX quote v4 over `td`, with the PCK chain inside.
    pub fn quote(&self, td: &TdReport) -> Vec<u8> {
        let chain = [self.pck.pem.as_str(), &self.pck_ca.pem, &self.root.pem].concat();
        QuotingEnclave {
            attestation_key: &self.attestation_key,
            pck_key: &self.pck.key,
            pck_chain_pem: &chain,
            qe_mr_signer: self.qe_mr_signer(),
            qe_isv_prod_id: QE_ISV_PROD_ID,
            qe_isv_svn: QE_ISV_SVN,
            pce_svn: PCE_SVN,
            tee_tcb_svn: TEE_TCB_SVN,
        }
        .quote(td)
    }

    /// The collateral a PCCS would serve at `now` (CRLs, TCB info, QE identity, their
    /// signatures and issuer chains), in `dcap-qvl`'s JSON shape.
    pub fn collateral(&self, now: u64, faults: &Faults) -> Result<serde_json::Value, SimError> {
        let issued = if faults.expired_collateral {
            now.saturating_sub(COLLATERAL_VALIDITY_SECS + 24 * 3600)
        } else {
            now.saturating_sub(3600)
        };
        let (issue_date, next_update) = (rfc3339(issued)?, rfc3339(issued + COLLATERAL_VALIDITY_SECS)?);
        let svns = |s: &[u8; 16]| s.iter().map(|v| serde_json::json!({ "svn": v })).collect::<Vec<_>>();
        let status = faults.tcb_status.clone().unwrap_or_else(|| "UpToDate".into());
        let platform_level = serde_json::json!({
            "tcb": { "sgxtcbcomponents": svns(&CPU_SVN), "pcesvn": PCE_SVN, "tdxtcbcomponents": svns(&TEE_TCB_SVN) },
            "tcbDate": TCB_DATE,
            "tcbStatus": status,
            "advisoryIDs": faults.advisories,
        });
        let mut levels = vec![platform_level];
        if status != "UpToDate" {
            levels.insert(0, serde_json::json!({
                "tcb": { "sgxtcbcomponents": svns(&CPU_SVN), "pcesvn": PCE_SVN + 1, "tdxtcbcomponents": svns(&TEE_TCB_SVN) },
                "tcbDate": "2025-06-01T00:00:00Z",
                "tcbStatus": "UpToDate",
            }));
        }
        let fmspc = if faults.wrong_fmspc { OTHER_FMSPC } else { DEV_FMSPC };
        let tcb_info = serde_json::json!({
            "id": "TDX", "version": 3, "issueDate": issue_date, "nextUpdate": next_update,
            "fmspc": hex::encode_upper(fmspc), "pceId": "0000", "tcbType": 0, "tcbEvaluationDataNumber": 1,
            "tdxModule": { "mrsigner": "00".repeat(48), "attributes": "0000000000000000", "attributesMask": "FFFFFFFFFFFFFFFF" },
            "tdxModuleIdentities": [],
            "tcbLevels": levels,
        })
        .to_string();
        let qe_identity = serde_json::json!({
            "id": "TD_QE", "version": 2, "issueDate": issue_date, "nextUpdate": next_update,
            "tcbEvaluationDataNumber": 1, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
            "attributes": "11000000000000000000000000000000", "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": hex::encode_upper(self.qe_mr_signer()), "isvprodid": QE_ISV_PROD_ID,
            "tcbLevels": [{ "tcb": { "isvsvn": QE_ISV_SVN }, "tcbDate": TCB_DATE, "tcbStatus": "UpToDate" }],
        })
        .to_string();
        let revoked: Vec<&Ca> = if faults.revoked_pck { vec![&self.pck] } else { vec![] };
        let signer_chain = [self.tcb_signer.pem.as_str(), &self.root.pem].concat();
        let pck_crl_chain = [self.pck_ca.pem.as_str(), &self.root.pem].concat();
        Ok(serde_json::json!({
            "pck_crl_issuer_chain": pck_crl_chain,
            "root_ca_crl": hex::encode(self.root.crl(issued, &[])?),
            "pck_crl": hex::encode(self.pck_ca.crl(issued, &revoked)?),
            "tcb_info_issuer_chain": signer_chain,
            "tcb_info_signature": hex::encode(self.tcb_signer.key.sign_raw(tcb_info.as_bytes())),
            "tcb_info": tcb_info,
            "qe_identity_issuer_chain": signer_chain,
            "qe_identity_signature": hex::encode(self.tcb_signer.key.sign_raw(qe_identity.as_bytes())),
            "qe_identity": qe_identity,
        }))
    }
}
