//! Verification latency per evidence type, on the real fixtures (clock pinned).
use criterion::{Criterion, criterion_group, criterion_main};
use veil_evidence::{
    IntelPolicy, SnpPolicy, amd_roots, intel_root_ca, verify_intel_quote, verify_snp_report,
};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../../shared/fixtures/tee/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn bench(c: &mut Criterion) {
    let cloud = IntelPolicy {
        allow_smt: true,
        allow_dynamic_platform: true,
        allow_cached_keys: true,
        ..IntelPolicy::default()
    };
    let (tdx, tdx_col) = (fixture("intel/tdx_quote"), fixture("intel/tdx_quote_collateral.json"));
    let mut sgx_policy = cloud.clone();
    sgx_policy.allowed_statuses.push("ConfigurationAndSWHardeningNeeded".into());
    sgx_policy.allowed_advisories = vec!["INTEL-SA-00289".into(), "INTEL-SA-00615".into()];
    let (sgx, sgx_col) = (fixture("intel/sgx_quote"), fixture("intel/sgx_quote_collateral.json"));
    let snp = hex::decode(String::from_utf8(fixture("amd/report_milan.hex")).unwrap().trim()).unwrap();
    let vcek = fixture("amd/vcek_milan.der");
    let (t_intel, t_snp) = (1_751_587_200u64, 1_748_736_000u64);

    let mut g = c.benchmark_group("verify");
    g.bench_function("tdx_quote_v4", |b| {
        b.iter(|| verify_intel_quote(&tdx, &tdx_col, intel_root_ca(), &cloud, t_intel).unwrap())
    });
    g.bench_function("sgx_quote_v3", |b| {
        b.iter(|| verify_intel_quote(&sgx, &sgx_col, intel_root_ca(), &sgx_policy, t_intel).unwrap())
    });
    g.bench_function("snp_report_vcek", |b| {
        b.iter(|| verify_snp_report(&snp, &vcek, amd_roots(), &SnpPolicy::default(), t_snp).unwrap())
    });
    // References: the crates' own verification, without Veil's policy layer.
    let col: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(&tdx_col).unwrap();
    let dcap = dcap_qvl::verify::QuoteVerifier::new(intel_root_ca().to_vec());
    g.bench_function("reference_dcap_qvl_verify_tdx", |b| {
        b.iter(|| dcap.verify(&tdx, &col, t_intel).unwrap())
    });
    let report = {
        use sev::parser::ByteParser;
        sev::firmware::guest::AttestationReport::from_bytes(&snp).unwrap()
    };
    let pem = String::from_utf8(amd_roots()[0].to_vec()).unwrap();
    let certs: Vec<sev::certs::snp::Certificate> = pem
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN"))
        .map(|b| sev::certs::snp::Certificate::from_pem(b.trim().as_bytes()).unwrap())
        .collect();
    // Bundle order: ASK, ARK, ASVK.
    let chain = sev::certs::snp::Chain {
        ca: sev::certs::snp::ca::Chain { ark: certs[1].clone(), ask: certs[0].clone() },
        vek: sev::certs::snp::Certificate::from_der(&vcek).unwrap(),
    };
    g.bench_function("reference_sev_verify_snp", |b| {
        b.iter(|| {
            use sev::certs::snp::Verifiable;
            (&chain, &report).verify().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
