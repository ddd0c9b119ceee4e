//! TDX quote v4 bytes, laid out as Intel's DCAP quote format specifies.

use sha2::{Digest, Sha256};

use crate::keys::DevKey;

/// Intel's QE vendor id: verifiers refuse quotes from any other quoting enclave.
const INTEL_QE_VENDOR_ID: [u8; 16] =
    [0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07];
const TEE_TYPE_TDX: u32 = 0x81;
const ATTESTATION_KEY_ECDSA_P256: u16 = 2;
/// Certification data: the QE report and its certification data (type 6)
/// wrapping the PCK certificate chain in PEM (type 5).
const CERT_QE_REPORT: u16 = 6;
const CERT_PCK_CHAIN: u16 = 5;
/// TD attribute bits (TDX module spec, TDINFO_STRUCT.ATTRIBUTES).
const TD_ATTR_DEBUG: u64 = 1 << 0;
const TD_ATTR_SEPT_VE_DISABLE: u64 = 1 << 28;

/// The TD report fields a simulated TD controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReport {
    /// MRTD.
    pub mr_td: [u8; 48],
    /// RTMR 0–3.
    pub rtmr: [[u8; 48]; 4],
    /// The 64 bytes bound into the quote.
    pub report_data: [u8; 64],
    /// Whether the TD runs with debugging enabled.
    pub debug: bool,
}

/// What the quoting enclave signs with and reports about itself.
pub(crate) struct QuotingEnclave<'a> {
    pub(crate) attestation_key: &'a DevKey,
    pub(crate) pck_key: &'a DevKey,
    pub(crate) pck_chain_pem: &'a str,
    pub(crate) qe_mr_signer: [u8; 32],
    pub(crate) qe_isv_prod_id: u16,
    pub(crate) qe_isv_svn: u16,
    pub(crate) pce_svn: u16,
    pub(crate) tee_tcb_svn: [u8; 16],
}

fn put<const N: usize>(out: &mut Vec<u8>, bytes: [u8; N]) {
    out.extend_from_slice(&bytes);
}

impl QuotingEnclave<'_> {
    /// A signed TDX quote v4 over `td`.
    pub(crate) fn quote(&self, td: &TdReport) -> Vec<u8> {
        let mut q = Vec::with_capacity(5 * 1024);
        // Header (48 bytes).
        put(&mut q, 4u16.to_le_bytes());
        put(&mut q, ATTESTATION_KEY_ECDSA_P256.to_le_bytes());
        put(&mut q, TEE_TYPE_TDX.to_le_bytes());
        put(&mut q, 0u16.to_le_bytes()); // reserved for TDX
        put(&mut q, self.pce_svn.to_le_bytes());
        put(&mut q, INTEL_QE_VENDOR_ID);
        put(&mut q, [0u8; 20]); // user data (QE id)
        // TD report 1.0 body (584 bytes).
        let attributes = TD_ATTR_SEPT_VE_DISABLE | if td.debug { TD_ATTR_DEBUG } else { 0 };
        put(&mut q, self.tee_tcb_svn);
        put(&mut q, [0u8; 48]); // MRSEAM
        put(&mut q, [0u8; 48]); // MRSIGNERSEAM (Intel's module: zero)
        put(&mut q, [0u8; 8]); // SEAMATTRIBUTES
        put(&mut q, attributes.to_le_bytes());
        put(&mut q, 0x0000_0000_0006_1ae7u64.to_le_bytes()); // XFAM, as typical TDs report
        put(&mut q, td.mr_td);
        put(&mut q, [0u8; 48]); // MRCONFIGID
        put(&mut q, [0u8; 48]); // MROWNER
        put(&mut q, [0u8; 48]); // MROWNERCONFIG
        for r in &td.rtmr {
            put(&mut q, *r);
        }
        put(&mut q, td.report_data);
        debug_assert_eq!(q.len(), 48 + 584);

        let signature = self.attestation_key.sign_raw(&q);
        let ak = self.attestation_key.public_xy();
        let qe_auth = [0u8; 32];

        // The QE report binds the attestation key: report_data = SHA-256(ak ‖ auth).
        let mut qe_report_data = [0u8; 64];
        qe_report_data[..32]
            .copy_from_slice(&Sha256::new().chain_update(ak).chain_update(qe_auth).finalize());
        let qe_report = self.qe_report(&qe_report_data);
        let qe_report_sig = self.pck_key.sign_raw(&qe_report);

        let mut cert6 = Vec::new();
        cert6.extend_from_slice(&qe_report);
        put(&mut cert6, qe_report_sig);
        put(&mut cert6, (qe_auth.len() as u16).to_le_bytes());
        put(&mut cert6, qe_auth);
        put(&mut cert6, CERT_PCK_CHAIN.to_le_bytes());
        put(&mut cert6, (self.pck_chain_pem.len() as u32).to_le_bytes());
        cert6.extend_from_slice(self.pck_chain_pem.as_bytes());

        let mut auth = Vec::new();
        put(&mut auth, signature);
        put(&mut auth, ak);
        put(&mut auth, CERT_QE_REPORT.to_le_bytes());
        put(&mut auth, (cert6.len() as u32).to_le_bytes());
        auth.extend_from_slice(&cert6);

        put(&mut q, (auth.len() as u32).to_le_bytes());
        q.extend_from_slice(&auth);
        q
    }

    /// The QE's SGX report (384 bytes).
    fn qe_report(&self, report_data: &[u8; 64]) -> Vec<u8> {
        let mut r = Vec::with_capacity(384);
        put(&mut r, [0u8; 16]); // CPUSVN
        put(&mut r, 0u32.to_le_bytes()); // MISCSELECT
        put(&mut r, [0u8; 28]);
        let mut attributes = [0u8; 16];
        attributes[0] = 0x11; // INIT | MODE64BIT, not DEBUG
        put(&mut r, attributes);
        put(&mut r, Sha256::digest(b"veil/sim-tee/qe/mr_enclave").into()); // MRENCLAVE
        put(&mut r, [0u8; 32]);
        put(&mut r, self.qe_mr_signer);
        put(&mut r, [0u8; 96]);
        put(&mut r, self.qe_isv_prod_id.to_le_bytes());
        put(&mut r, self.qe_isv_svn.to_le_bytes());
        put(&mut r, [0u8; 60]);
        put(&mut r, *report_data);
        debug_assert_eq!(r.len(), 384);
        r
    }
}
