//! The committed reference models (models/, trained by models/train.py): they load
//! only under their root, reproduce scikit-learn's measured accuracy through tract,
//! and the int8 path keeps that accuracy with pinned, bit-exact arithmetic.

use std::path::PathBuf;

use veil_content::root_of;
use veil_model::{ModelError, ModelMeta, ModelRegistry, OnnxModel, QuantizedNet, dense_layers};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

struct Split {
    train: Vec<Vec<f32>>,
    test: Vec<(Vec<f32>, usize)>,
}

fn data(file: &str) -> Split {
    let text = std::fs::read_to_string(models_dir().join("data").join(file)).unwrap();
    let mut split = Split { train: Vec::new(), test: Vec::new() };
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let n = cols.len();
        let x: Vec<f32> = cols[..n - 2].iter().map(|v| v.parse().unwrap()).collect();
        match cols[n - 1] {
            "test" => split.test.push((x, cols[n - 2].parse().unwrap())),
            _ => split.train.push(x),
        }
    }
    split
}

fn manifest_accuracy(name: &str) -> (f64, usize) {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models_dir().join("manifest.json")).unwrap()).unwrap();
    let entry = m["models"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap();
    (entry["test_accuracy"].as_f64().unwrap(), entry["test_rows"].as_u64().unwrap() as usize)
}

fn load(file: &str) -> (Vec<u8>, OnnxModel) {
    let bytes = std::fs::read(models_dir().join(file)).unwrap();
    let root = root_of(&bytes).unwrap();
    let model = OnnxModel::load(&bytes, &root).unwrap();
    (bytes, model)
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::MIN), |(bi, bv), (i, x)| if *x > bv { (i, *x) } else { (bi, bv) }).0
}

/// Accuracy through tract, running the whole test split as one batch.
fn tract_accuracy(model: &OnnxModel, split: &Split) -> (usize, Vec<usize>) {
    let flat: Vec<f32> = split.test.iter().flat_map(|(x, _)| x.clone()).collect();
    let out = model.run(split.test.len(), &flat).unwrap();
    let predicted: Vec<usize> =
        (0..split.test.len()).map(|i| argmax(out.row("probabilities", i).unwrap())).collect();
    let correct = predicted.iter().zip(&split.test).filter(|(p, (_, y))| *p == y).count();
    (correct, predicted)
}

#[test]
fn both_models_reproduce_their_measured_accuracy_through_tract() {
    for (file, csv, name) in [
        ("digits_mlp.onnx", "digits.csv", "digits-mlp"),
        ("breast_cancer_logreg.onnx", "breast_cancer.csv", "breast-cancer-logreg"),
    ] {
        let (_, model) = load(file);
        let split = data(csv);
        let (accuracy, rows) = manifest_accuracy(name);
        assert_eq!(split.test.len(), rows);
        let (correct, _) = tract_accuracy(&model, &split);
        let measured = correct as f64 / rows as f64;
        assert!((measured - accuracy).abs() < 1e-6, "{name}: tract {measured} vs scikit-learn {accuracy}");
        // Probabilities are a distribution, and a row alone gives the batch's answer.
        let (x0, _) = &split.test[0];
        let one = model.run(1, x0).unwrap();
        let batch = model.run(2, &[x0.clone(), split.test[1].0.clone()].concat()).unwrap();
        let p = one.row("probabilities", 0).unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        for (a, b) in p.iter().zip(batch.row("probabilities", 0).unwrap()) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}

#[test]
fn a_model_loads_only_under_its_own_root() {
    let bytes = std::fs::read(models_dir().join("digits_mlp.onnx")).unwrap();
    let other = std::fs::read(models_dir().join("breast_cancer_logreg.onnx")).unwrap();
    let root = root_of(&bytes).unwrap();
    assert!(matches!(OnnxModel::load(&bytes, &root_of(&other).unwrap()), Err(ModelError::Integrity { .. })));
    let mut tampered = bytes.clone();
    let at = tampered.len() - 100;
    tampered[at] ^= 0x10;
    assert_ne!(tampered, bytes);
    assert!(matches!(OnnxModel::load(&tampered, &root), Err(ModelError::Integrity { .. })));
    // Garbage under its own root is an ONNX error, not a panic.
    let garbage = b"not an onnx model at all".to_vec();
    assert!(matches!(OnnxModel::load(&garbage, &root_of(&garbage).unwrap()), Err(ModelError::Onnx(_))));
}

#[test]
fn bad_inputs_are_refused() {
    let (_, model) = load("digits_mlp.onnx");
    assert!(matches!(model.run(1, &[0.0; 63]), Err(ModelError::Input(_))));
    assert!(matches!(model.run(0, &[]), Err(ModelError::Input(_))));
    let mut x = vec![0.0f32; 64];
    x[5] = f32::NAN;
    assert!(matches!(model.run(1, &x), Err(ModelError::Input(_))));
}

fn int8(file: &str, csv: &str) -> (QuantizedNet, Split) {
    let (bytes, _) = load(file);
    let split = data(csv);
    let net = QuantizedNet::quantize(&dense_layers(&bytes).unwrap(), &split.train).unwrap();
    (net, split)
}

#[test]
fn the_int8_path_keeps_the_accuracy() {
    for (file, csv, layers) in
        [("digits_mlp.onnx", "digits.csv", 2), ("breast_cancer_logreg.onnx", "breast_cancer.csv", 1)]
    {
        let (_, model) = load(file);
        let (net, split) = int8(file, csv);
        assert_eq!(net.layers.len(), layers);
        let (f32_correct, f32_pred) = tract_accuracy(&model, &split);
        let mut agree = 0;
        let mut correct = 0;
        for ((x, y), p) in split.test.iter().zip(&f32_pred) {
            let c = net.classify(x).unwrap();
            agree += usize::from(c == *p);
            correct += usize::from(c == *y);
        }
        let n = split.test.len();
        assert!(
            correct as f64 >= f32_correct as f64 - 0.01 * n as f64,
            "{file}: int8 {correct}/{n} vs f32 {f32_correct}/{n}"
        );
        assert!(agree as f64 >= 0.98 * n as f64, "{file}: int8 agrees on {agree}/{n}");
        eprintln!("{file}: f32 {f32_correct}/{n}, int8 {correct}/{n}, agreement {agree}/{n}");
    }
}

#[test]
fn the_int8_arithmetic_is_pinned() {
    // Quantisation is deterministic and the integer forward pass is exact: these
    // values change only if the arithmetic specified in quant.rs does, which would
    // break every proof made against it.
    let (net, split) = int8("digits_mlp.onnx", "digits.csv");
    let again = int8("digits_mlp.onnx", "digits.csv").0;
    assert_eq!(net.digest(), again.digest());
    let mut checksum: i64 = 0;
    for (i, (x, _)) in split.test.iter().enumerate() {
        let acc = net.forward(&net.quantize_input(x).unwrap()).unwrap();
        checksum =
            checksum.wrapping_mul(31).wrapping_add(acc.iter().map(|v| i64::from(*v)).sum::<i64>() + i as i64);
    }
    let pinned = include_str!("int8_digits.pin").trim();
    let actual = format!("{} {checksum}", hex(&net.digest()));
    assert_eq!(actual, pinned, "update tests/int8_digits.pin only with a documented arithmetic change");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn the_registry_serves_models_by_name_or_root_and_verifies_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = veil_store::Store::Local(veil_store::LocalStore::open(&dir.path().join("store")).unwrap());
    let index = dir.path().join("models.json");
    let mut reg = ModelRegistry::open(store, &index).unwrap();
    let bytes = std::fs::read(models_dir().join("digits_mlp.onnx")).unwrap();
    let meta = ModelMeta {
        name: "digits-mlp".into(),
        task: "digits".into(),
        classes: (0..10).map(|d| d.to_string()).collect(),
    };
    let entry = reg.register(bytes.clone(), meta.clone()).await.unwrap();
    assert_eq!(entry.root, root_of(&bytes).unwrap());
    assert_eq!(entry.features, 64);
    assert_eq!(reg.register(bytes.clone(), meta.clone()).await.unwrap(), entry, "idempotent");
    let other = std::fs::read(models_dir().join("breast_cancer_logreg.onnx")).unwrap();
    assert!(matches!(reg.register(other, meta).await, Err(ModelError::Registry(_))), "a name keeps its root");

    // Reopened from the index; found by name and by root.
    let store = veil_store::Store::Local(veil_store::LocalStore::open(&dir.path().join("store")).unwrap());
    let reg = ModelRegistry::open(store, &index).unwrap();
    assert_eq!(reg.list().count(), 1);
    let (_, by_name) = reg.load("digits-mlp").await.unwrap();
    let (_, by_root) = reg.load(&entry.root.to_string()).await.unwrap();
    assert_eq!(by_name.root(), by_root.root());
    assert!(matches!(reg.load("resnet").await, Err(ModelError::Unknown(_))));

    // A flipped byte in the stored file is caught before the model loads.
    let blob = veil_store::LocalStore::open(&dir.path().join("store")).unwrap().blob_path(&entry.root);
    let mut stored = std::fs::read(&blob).unwrap();
    stored[200] ^= 1;
    std::fs::write(&blob, &stored).unwrap();
    assert!(reg.load("digits-mlp").await.is_err());
}

proptest::proptest! {
    #[test]
    fn the_int8_forward_pass_takes_any_input(x in proptest::collection::vec(-127i8..=127, 64)) {
        let (net, _) = int8_cached();
        let acc = net.forward(&x).unwrap();
        proptest::prop_assert_eq!(acc.len(), 10);
    }
}

fn int8_cached() -> &'static (QuantizedNet, Split) {
    static NET: std::sync::OnceLock<(QuantizedNet, Split)> = std::sync::OnceLock::new();
    NET.get_or_init(|| int8("digits_mlp.onnx", "digits.csv"))
}

/// An int8 network's registry file reads back as the same network, and a file whose
/// numbers could not come from quantisation (shapes that do not chain, a weight of
/// −128, an accumulator that could overflow, a hidden layer without requantisation)
/// is refused, never evaluated.
#[test]
fn an_int8_file_round_trips_and_impossible_networks_are_refused() {
    let (net, _) = int8_cached();
    let file = net.to_file();
    assert_eq!(&QuantizedNet::from_file(&file).unwrap(), net);
    let refused = |n: &QuantizedNet, why: &str| {
        let bytes = n.to_file();
        assert_ne!(bytes, file, "{why}: the file changed");
        assert!(matches!(QuantizedNet::from_file(&bytes), Err(ModelError::Unsupported(_))), "{why}");
    };
    let mut n = net.clone();
    n.layers[1].inputs += 1;
    refused(&n, "shapes that do not chain");
    let mut n = net.clone();
    n.layers[0].weights[3] = i8::MIN;
    refused(&n, "a weight of -128");
    let mut n = net.clone();
    n.layers[1].bias[0] = i32::MAX - 1;
    refused(&n, "an accumulator that could overflow i32");
    let mut n = net.clone();
    n.layers[0].requant = None;
    refused(&n, "a hidden layer without requantisation");
    let mut n = net.clone();
    n.layers[1].weights.pop();
    refused(&n, "a missing weight");
    let mut n = net.clone();
    n.input_scales[0] = f64::NAN;
    assert!(QuantizedNet::from_file(&n.to_file()).is_err(), "a NaN scale");
    assert!(QuantizedNet::from_file(b"{}").is_err());
    assert!(QuantizedNet::from_file(b"\xff").is_err());
}

#[tokio::test]
async fn an_int8_network_registers_under_its_file_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = veil_store::Store::Local(veil_store::LocalStore::open(&dir.path().join("store")).unwrap());
    let mut reg = ModelRegistry::open(store, &dir.path().join("models.json")).unwrap();
    let (net, _) = int8_cached();
    let meta = ModelMeta { name: "digits-int8".into(), task: "digits".into(), classes: vec![] };
    let entry = reg.register_int8(net, meta, None).await.unwrap();
    assert_eq!(entry.root, root_of(&net.to_file()).unwrap());
    assert_eq!((entry.features, entry.format), (64, veil_model::ModelFormat::Int8));
    let (_, bytes) = reg.fetch("digits-int8").await.unwrap();
    assert_eq!(&QuantizedNet::from_file(&bytes).unwrap(), net);
}
