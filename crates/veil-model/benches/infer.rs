//! Inference latency of the reference models: tract f32 (the engine the worker runs)
//! against the int8 integer path (the one the ZK witness generator reproduces), one
//! row at a time and as a batch of 64.
//!
//!     cargo bench -p veil-model --bench infer -- --warm-up-time 1 --measurement-time 3

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use veil_model::{OnnxModel, QuantizedNet, dense_layers};

fn rows(csv: &str) -> Vec<Vec<f32>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/data").join(csv);
    std::fs::read_to_string(path)
        .expect("data")
        .lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            cols[..cols.len() - 2].iter().map(|v| v.parse().expect("number")).collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (file, csv) in [("digits_mlp.onnx", "digits.csv"), ("breast_cancer_logreg.onnx", "breast_cancer.csv")]
    {
        let bytes = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(file))
            .expect("model");
        let root = veil_content::root_of(&bytes).expect("root");
        let model = OnnxModel::load(&bytes, &root).expect("load");
        let data = rows(csv);
        let net = QuantizedNet::quantize(&dense_layers(&bytes).expect("layers"), &data).expect("quantize");
        let one = data[0].clone();
        let batch: Vec<f32> = data.iter().take(64).flatten().copied().collect();
        let name = file.trim_end_matches(".onnx");
        c.bench_function(&format!("{name}/load (root check + tract optimise)"), |b| {
            b.iter(|| OnnxModel::load(&bytes, &root).expect("load"))
        });
        c.bench_function(&format!("{name}/tract f32, 1 row"), |b| {
            b.iter(|| model.run(1, &one).expect("run"))
        });
        c.bench_function(&format!("{name}/int8, 1 row"), |b| b.iter(|| net.classify(&one).expect("int8")));
        c.bench_function(&format!("{name}/tract f32, 64 rows"), |b| {
            b.iter(|| model.run(64, &batch).expect("run"))
        });
        c.bench_function(&format!("{name}/int8, 64 rows"), |b| {
            b.iter(|| data.iter().take(64).map(|r| net.classify(r).expect("int8")).sum::<usize>())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
