//! AMD CRL checks. AMD's own CRLs are signed by keys we cannot use, so the checks are
//! exercised with CRLs signed by a test RSA key (tests/data) under the real Milan ARK's
//! name and, end to end, the real report: a CRL not signed by the pinned ARK is refused.

use der::{Decode, Encode};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use time::macros::datetime;
use veil_evidence::{AttestationError, SnpPolicy, amd_roots, check_amd_crl, verify_snp_report_with_crl};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

const NOW: u64 = 1_748_736_000; // 2025-06-01T00:00:00Z

fn signer() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("../data/test-crl-signer.pem")).expect("test key")
}

fn spki(key: &rsa::RsaPrivateKey) -> Vec<u8> {
    key.to_public_key().to_public_key_der().expect("spki").as_bytes().to_vec()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../../shared/fixtures/tee/amd/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture")
}

/// The real Milan ARK's subject and the real VCEK's serial.
fn milan() -> (Name, SerialNumber) {
    let pem = String::from_utf8(amd_roots()[0].to_vec()).expect("pem");
    let ark = pem
        .split_inclusive("-----END CERTIFICATE-----")
        .filter_map(|b| {
            let der = b.lines().filter(|l| !l.starts_with("-----") && !l.is_empty()).collect::<String>();
            use base64::Engine as _;
            let der = base64::engine::general_purpose::STANDARD.decode(der.trim()).ok()?;
            x509_cert::Certificate::from_der(&der).ok()
        })
        .find(|c| c.tbs_certificate.subject.to_string().contains("CN=ARK-Milan"))
        .expect("Milan ARK");
    let vcek = x509_cert::Certificate::from_der(&fixture("vcek_milan.der")).expect("vcek");
    (ark.tbs_certificate.subject, vcek.tbs_certificate.serial_number)
}

fn time(unix: u64) -> Time {
    Time::GeneralTime(
        der::asn1::GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(unix)).expect("time"),
    )
}

fn crl(issuer: &Name, revoked: &[&SerialNumber], this_update: u64, key: &rsa::RsaPrivateKey) -> Vec<u8> {
    let alg = rsa::pss::get_default_pss_signature_algo_id::<sha2_010::Sha384>().expect("alg");
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: alg.clone(),
        issuer: issuer.clone(),
        this_update: time(this_update),
        next_update: Some(time(this_update + 7 * 86_400)),
        revoked_certificates: (!revoked.is_empty()).then(|| {
            revoked
                .iter()
                .map(|s| RevokedCert {
                    serial_number: (*s).clone(),
                    revocation_date: time(this_update),
                    crl_entry_extensions: None,
                })
                .collect()
        }),
        crl_extensions: None,
    };
    let signing = rsa::pss::SigningKey::<sha2_010::Sha384>::new(key.clone());
    let sig = signing.sign_with_rng(&mut rsa::rand_core::OsRng, &tbs.to_der().expect("der"));
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature: der::asn1::BitString::from_bytes(&sig.to_vec()).expect("bits"),
    }
    .to_der()
    .expect("der")
}

#[test]
fn a_current_crl_that_lists_nothing_of_ours_passes() {
    let (ark, vcek_serial) = milan();
    let key = signer();
    let other = SerialNumber::new(&[0x42]).expect("serial");
    let der = crl(&ark, &[&other], NOW - 86_400, &key);
    let until =
        check_amd_crl(&der, &ark, &spki(&key), &[("VCEK", &vcek_serial)], NOW).expect("current, not revoked");
    assert_eq!(until, NOW + 6 * 86_400);
}

#[test]
fn a_revoked_vcek_is_refused() {
    let (ark, vcek_serial) = milan();
    let key = signer();
    let der = crl(&ark, &[&vcek_serial], NOW - 86_400, &key);
    let err = check_amd_crl(&der, &ark, &spki(&key), &[("VCEK", &vcek_serial)], NOW).expect_err("revoked");
    assert!(matches!(&err, AttestationError::Revoked(m) if m.contains("VCEK")), "{err}");
}

#[test]
fn stale_foreign_forged_and_garbled_crls_are_refused() {
    let (ark, vcek_serial) = milan();
    let key = signer();
    let certs = [("VCEK", &vcek_serial)];
    let stale = crl(&ark, &[], NOW - 30 * 86_400, &key);
    assert_eq!(
        check_amd_crl(&stale, &ark, &spki(&key), &certs, NOW).unwrap_err().code(),
        "attestation.collateral_expired"
    );

    let other_issuer = Name::from_der(
        &x509_cert::Certificate::from_der(&fixture("vcek_milan.der"))
            .expect("vcek")
            .tbs_certificate
            .subject
            .to_der()
            .expect("der"),
    )
    .expect("name");
    let foreign = crl(&other_issuer, &[], NOW - 86_400, &key);
    assert_eq!(
        check_amd_crl(&foreign, &ark, &spki(&key), &certs, NOW).unwrap_err().code(),
        "attestation.chain"
    );

    let good = crl(&ark, &[], NOW - 86_400, &key);
    let mut flipped = good.clone();
    let at = flipped.len() - 10; // inside the signature
    flipped[at] ^= 1;
    assert_ne!(flipped, good);
    assert_eq!(
        check_amd_crl(&flipped, &ark, &spki(&key), &certs, NOW).unwrap_err().code(),
        "attestation.signature"
    );
    assert_eq!(
        check_amd_crl(&good[..good.len() / 2], &ark, &spki(&key), &certs, NOW).unwrap_err().code(),
        "attestation.parse"
    );
}

#[test]
fn the_real_report_with_a_crl_not_signed_by_the_pinned_ark_is_refused() {
    let (ark, _) = milan();
    let report =
        hex::decode(String::from_utf8(fixture("report_milan.hex")).expect("utf-8").trim()).expect("hex");
    let vcek = fixture("vcek_milan.der");
    let now = datetime!(2025-06-01 00:00 UTC).unix_timestamp() as u64;
    let roots = amd_roots();
    // Without a CRL it verifies; with one under the ARK's name but another key it does not.
    verify_snp_report_with_crl(&report, &vcek, roots, None, &SnpPolicy::default(), now).expect("verifies");
    let forged = crl(&ark, &[], now - 86_400, &signer());
    let err = verify_snp_report_with_crl(&report, &vcek, roots, Some(&forged), &SnpPolicy::default(), now)
        .expect_err("forged CRL");
    assert_eq!(err.code(), "attestation.signature", "{err}");
}
