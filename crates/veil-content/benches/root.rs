//! Root throughput next to raw keccak256 over the same bytes (the bound).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha3::{Digest, Keccak256};

fn bench(c: &mut Criterion) {
    let data: Vec<u8> = (0..64 << 20).map(|i: usize| (i % 251) as u8).collect();
    let mut g = c.benchmark_group("64MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("keccak256_raw", |b| b.iter(|| Keccak256::digest(&data)));
    g.bench_function("0g_root", |b| b.iter(|| veil_content::root_of(&data).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
