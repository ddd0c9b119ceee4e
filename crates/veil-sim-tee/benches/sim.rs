//! Simulated TDX: quote generation, and verification by the production verifier next
//! to bare dcap-qvl on the same bytes.
use criterion::{Criterion, criterion_group, criterion_main};
use veil_evidence::{IntelPolicy, verify_intel_quote};
use veil_sim_tee::{DevPki, Faults, SimMeasurement, TdReport};

const NOW: u64 = 1_772_323_200;

fn bench(c: &mut Criterion) {
    let pki = DevPki::from_seed(&[7u8; 32]).expect("pki");
    let m = SimMeasurement::from_digests([1; 48], [2; 48], &[3; 32]);
    let td = TdReport { mr_td: m.mr_td(), rtmr: m.rtmrs(), report_data: [0x5a; 64], debug: false };
    let quote = pki.quote(&td);
    let collateral =
        serde_json::to_vec(&pki.collateral(NOW, &Faults::default()).expect("collateral")).expect("json");

    let mut g = c.benchmark_group("sim_tdx");
    g.bench_function("quote", |b| b.iter(|| pki.quote(&td)));
    g.bench_function("collateral", |b| {
        b.iter(|| pki.collateral(NOW, &Faults::default()).expect("collateral"))
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            verify_intel_quote(&quote, &collateral, pki.root_der(), &IntelPolicy::default(), NOW).expect("ok")
        })
    });
    let col: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(&collateral).expect("collateral");
    let dcap = dcap_qvl::verify::QuoteVerifier::new(pki.root_der().to_vec());
    g.bench_function("reference_dcap_qvl_verify", |b| b.iter(|| dcap.verify(&quote, &col, NOW).expect("ok")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
