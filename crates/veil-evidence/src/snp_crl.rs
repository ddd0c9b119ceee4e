//! AMD's certificate revocation lists (KDS `/vcek/v1/{product}/crl`, `/vlek/…`): signed
//! by the product's ARK with RSASSA-PSS/SHA-384, listing revoked ASKs, ASVKs and keys.

use der::{Decode, Encode};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use crate::AttestationError;

/// RSASSA-PSS, the only algorithm AMD signs with.
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

fn unix(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
}

/// Check `crl_der` was issued and signed by the root `issuer`/`issuer_spki_der`, is
/// current at `now`, and lists none of `certs` (name, serial). Returns when it
/// stops being current.
pub fn check_amd_crl(
    crl_der: &[u8],
    issuer: &Name,
    issuer_spki_der: &[u8],
    certs: &[(&str, &SerialNumber)],
    now: u64,
) -> Result<u64, AttestationError> {
    let crl =
        CertificateList::from_der(crl_der).map_err(|e| AttestationError::Parse(format!("AMD CRL: {e}")))?;
    let tbs = &crl.tbs_cert_list;
    if &tbs.issuer != issuer {
        return Err(AttestationError::Chain(format!(
            "the CRL is issued by {}, not by this product's ARK ({issuer})",
            tbs.issuer
        )));
    }
    if crl.signature_algorithm.oid.to_string() != OID_RSASSA_PSS {
        return Err(AttestationError::Signature(format!(
            "the CRL is signed with {}, not RSASSA-PSS",
            crl.signature_algorithm.oid
        )));
    }
    let key = rsa::RsaPublicKey::from_public_key_der(issuer_spki_der)
        .map_err(|e| AttestationError::Chain(format!("ARK key: {e}")))?;
    let tbs_der = tbs.to_der().map_err(|e| AttestationError::Parse(format!("AMD CRL: {e}")))?;
    let sig = rsa::pss::Signature::try_from(crl.signature.raw_bytes())
        .map_err(|e| AttestationError::Signature(format!("AMD CRL: {e}")))?;
    rsa::pss::VerifyingKey::<sha2_010::Sha384>::new(key).verify(&tbs_der, &sig).map_err(|_| {
        AttestationError::Signature("the CRL's signature does not verify under the ARK".into())
    })?;

    let (from, until) = (unix(&tbs.this_update), tbs.next_update.as_ref().map(unix).unwrap_or(u64::MAX));
    if now < from || now > until {
        return Err(AttestationError::CollateralExpired(format!(
            "the AMD CRL is current from {from} to {until} (unix), not at {now}"
        )));
    }
    for revoked in tbs.revoked_certificates.iter().flatten() {
        if let Some((name, _)) = certs.iter().find(|(_, serial)| **serial == revoked.serial_number) {
            return Err(AttestationError::Revoked(format!(
                "the AMD CRL revokes the {name} (serial {})",
                revoked.serial_number
            )));
        }
    }
    Ok(until)
}
