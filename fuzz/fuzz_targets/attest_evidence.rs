//! Arbitrary bytes as TEE evidence (an Intel quote with real collateral, or an SNP
//! report with a real VCEK, or AMD's CRL for a real report): a typed refusal, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

static TDX_COLLATERAL: &[u8] = include_bytes!("../../../shared/fixtures/tee/intel/tdx_quote_collateral.json");
static VCEK: &[u8] = include_bytes!("../../../shared/fixtures/tee/amd/vcek_milan.der");
static SNP_REPORT_HEX: &str = include_str!("../../../shared/fixtures/tee/amd/report_milan.hex");
const NOW: u64 = 1_751_587_200;

fuzz_target!(|data: &[u8]| {
    // Whatever the bytes are taken for, they are what the headers say.
    match veil_evidence::classify(data.to_vec()) {
        Ok(veil_evidence::Found::SnpReport(r)) => assert_eq!(r.len(), 1184),
        Ok(veil_evidence::Found::IntelQuote(q)) => assert!(q.len() >= 48),
        Ok(veil_evidence::Found::Envelope(_)) => assert!(data.trim_ascii_start().starts_with(b"{")),
        Err(e) => assert_eq!(e.code(), "attestation.parse"),
    }
    let policy = veil_evidence::Policy::default();
    let _ = veil_evidence::verify_intel_quote(
        data,
        TDX_COLLATERAL,
        veil_evidence::intel_root_ca(),
        &policy.intel,
        NOW,
    );
    let _ = veil_evidence::verify_snp_report(data, VCEK, veil_evidence::amd_roots(), &policy.snp, NOW);
    // The same bytes as a certificate and as collateral.
    let _ =
        veil_evidence::verify_snp_report(&[0u8; 1184], data, veil_evidence::amd_roots(), &policy.snp, NOW);
    let _ = veil_evidence::verify_intel_quote(&[], data, veil_evidence::intel_root_ca(), &policy.intel, NOW);
    // The same bytes as AMD's CRL for a report that verifies.
    if let Ok(report) = hex::decode(SNP_REPORT_HEX.trim()) {
        let roots = veil_evidence::amd_roots();
        let _ = veil_evidence::verify_snp_report_with_crl(&report, VCEK, roots, Some(data), &policy.snp, NOW);
    }
});
