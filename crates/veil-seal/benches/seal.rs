//! Sealing throughput in memory (no I/O), to separate crypto cost from file cost.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil_seal::{Identity, open, seal};

fn bench(c: &mut Criterion) {
    let id = Identity::from_seed(&[5u8; 32]);
    let data = vec![0x5au8; 64 << 20];
    let mut sealed = Vec::with_capacity(data.len() + (1 << 20));
    seal(&data[..], &mut sealed, &[id.public_key()]).unwrap();
    let mut g = c.benchmark_group("64MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("seal", |b| {
        let mut out = Vec::with_capacity(sealed.len());
        b.iter(|| {
            out.clear();
            seal(&data[..], &mut out, &[id.public_key()]).unwrap()
        })
    });
    g.bench_function("open", |b| {
        let mut out = Vec::with_capacity(data.len());
        b.iter(|| {
            out.clear();
            open(&sealed[..], &mut out, &id).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
