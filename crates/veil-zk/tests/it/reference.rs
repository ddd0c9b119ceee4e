//! Veil's Poseidon, commitments and proofs against the reference JavaScript tools:
//! circomlibjs computes the same hashes and snarkjs accepts the same proofs (and
//! refuses them for changed public inputs). `scripts/zk.sh` installs both from npm.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ark_std::rand::rngs::StdRng;
use ark_std::rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use veil_zk::income::IncomeThreshold;
use veil_zk::mlp::{Inference, Layer, Network, WeightMode, input_hash, output_hash};
use veil_zk::{Fr, groth, poseidon, snarkjs};

fn zk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../zk")
}

fn tools() -> PathBuf {
    let dir = zk_dir();
    assert!(
        dir.join("node_modules/.bin/snarkjs").exists(),
        "the reference tools are missing: run scripts/zk.sh (npm ci in zk/)"
    );
    dir
}

fn circomlibjs(request: &Value) -> Value {
    let dir = tools();
    let mut child = Command::new("node")
        .arg(dir.join("poseidon.mjs"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn random_fr(rng: &mut StdRng) -> Fr {
    use ark_std::UniformRand;
    Fr::rand(rng)
}

#[test]
fn poseidon_and_the_income_commitment_match_circomlibjs() {
    let mut rng = StdRng::seed_from_u64(2026);
    let inputs: Vec<Vec<Fr>> = (1..=poseidon::MAX_INPUTS)
        .flat_map(|n| {
            [(0..n).map(|i| Fr::from(i as u64)).collect(), (0..n).map(|_| random_fr(&mut rng)).collect()]
        })
        .collect();
    let statements: Vec<IncomeThreshold> = [(0usize, 16usize), (3, 16), (16, 16), (200, 256)]
        .iter()
        .map(|&(n, slots)| IncomeThreshold {
            account: random_fr(&mut rng),
            epoch: rng.r#gen(),
            amounts: (0..n).map(|_| rng.r#gen()).collect(),
            salt: random_fr(&mut rng),
            threshold: 0,
            slots,
        })
        .collect();
    let request = json!({
        "hash": inputs.iter().map(|xs| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "income": statements.iter().map(|s| json!({
            "account": s.account.to_string(), "epoch": s.epoch.to_string(),
            "amounts": s.amounts.iter().map(u64::to_string).collect::<Vec<_>>(),
            "salt": s.salt.to_string(), "slots": s.slots,
        })).collect::<Vec<_>>(),
    });
    let reference = circomlibjs(&request);
    for (xs, expected) in inputs.iter().zip(reference["hash"].as_array().unwrap()) {
        assert_eq!(
            poseidon::hash(xs).unwrap().to_string(),
            expected.as_str().unwrap(),
            "{} inputs",
            xs.len()
        );
    }
    for (s, expected) in statements.iter().zip(reference["income"].as_array().unwrap()) {
        assert_eq!(s.commitment().unwrap().to_string(), expected.as_str().unwrap());
    }
}

fn snarkjs_verify(dir: &Path, vk: &Value, public: &Value, proof: &Value) -> bool {
    for (name, v) in [("vk.json", vk), ("public.json", public), ("proof.json", proof)] {
        std::fs::write(dir.join(name), v.to_string()).unwrap();
    }
    let out = Command::new(tools().join("node_modules/.bin/snarkjs"))
        .args(["groth16", "verify"])
        .args([dir.join("vk.json"), dir.join("public.json"), dir.join("proof.json")])
        .output()
        .expect("snarkjs");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    out.status.success() && text.contains("OK")
}

#[test]
fn snarkjs_accepts_veil_proofs_and_refuses_changed_inputs() {
    let mut rng = StdRng::seed_from_u64(9);
    let keys = groth::dev_setup(IncomeThreshold::blank(16), &mut rng).unwrap();
    let statement = IncomeThreshold {
        account: Fr::from(0xa11ce_u64),
        epoch: 202611,
        amounts: vec![150_000, 225_000, 90_000],
        salt: Fr::from(77u64),
        threshold: 400_000,
        slots: 16,
    };
    let (proof, public) = groth::prove_income(&keys.pk, statement, &mut rng).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vk = snarkjs::vk_to_json(&keys.vk);
    let proof_json = snarkjs::proof_to_json(&proof);
    let public_json = snarkjs::public_to_json(&public);
    assert!(snarkjs_verify(dir.path(), &vk, &public_json, &proof_json), "snarkjs accepts the proof");
    // A higher threshold claimed for the same proof.
    let mut raised = public.clone();
    raised[1] += Fr::from(1u64);
    let raised_json = snarkjs::public_to_json(&raised);
    assert_ne!(raised_json, public_json);
    assert!(!snarkjs_verify(dir.path(), &vk, &raised_json, &proof_json), "snarkjs refuses a changed input");
}

/// A random 10 → 7 (ReLU) → 4 network with a 40-byte weight run per row block, so
/// packing crosses element boundaries.
fn network(rng: &mut StdRng) -> Network {
    let mut layer = |inputs: usize, outputs: usize, relu: bool, requant: Option<(i32, u32)>| Layer {
        inputs,
        outputs,
        weights: (0..inputs * outputs).map(|_| rng.gen_range(-127i8..=127)).collect(),
        bias: (0..outputs).map(|_| rng.gen_range(-100_000..100_000)).collect(),
        relu,
        requant,
    };
    Network { layers: vec![layer(10, 7, true, Some((1_234_567_890, 40))), layer(7, 4, false, None)] }
}

#[test]
fn the_zkml_commitments_match_circomlibjs() {
    let mut rng = StdRng::seed_from_u64(77);
    let cases: Vec<(Network, Vec<i8>, Fr)> = (0..3)
        .map(|_| {
            let n = network(&mut rng);
            let x: Vec<i8> = (0..10).map(|_| rng.gen_range(-127i8..=127)).collect();
            (n, x, random_fr(&mut rng))
        })
        .collect();
    let request = json!({
        "mlp": cases.iter().map(|(n, x, salt)| json!({
            "network": n, "input": x, "salt": salt.to_string(),
            "outputs": n.forward(x).unwrap(),
        })).collect::<Vec<_>>(),
    });
    let reference = circomlibjs(&request);
    for ((n, x, salt), expected) in cases.iter().zip(reference["mlp"].as_array().unwrap()) {
        assert_eq!(n.hash().unwrap().to_string(), expected["model"].as_str().unwrap());
        assert_eq!(input_hash(x, *salt).unwrap().to_string(), expected["input"].as_str().unwrap());
        let outputs = n.forward(x).unwrap();
        assert!(outputs.iter().any(|o| *o < 0), "negative outputs are encoded too: {outputs:?}");
        assert_eq!(output_hash(&outputs).unwrap().to_string(), expected["output"].as_str().unwrap());
    }
}

#[test]
fn snarkjs_accepts_zkml_proofs_and_refuses_a_wrong_output_or_model() {
    let mut rng = StdRng::seed_from_u64(12);
    let net = network(&mut rng);
    let keys = groth::dev_setup(Inference::blank(net.clone(), WeightMode::Private), &mut rng).unwrap();
    let statement = Inference {
        network: net,
        mode: WeightMode::Private,
        input: (0..10).map(|i| i * 12 - 60).collect(),
        salt: Fr::from(31337u64),
    };
    let claim = statement.claim().unwrap();
    let proof = groth::prove(&keys.pk, statement, &mut rng).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vk = snarkjs::vk_to_json(&keys.vk);
    let proof_json = snarkjs::proof_to_json(&proof);
    assert!(snarkjs_verify(dir.path(), &vk, &snarkjs::public_to_json(&claim.public), &proof_json));
    let mut wrong_output = claim.outputs.clone();
    wrong_output[0] += 1;
    for (i, value) in [(2, output_hash(&wrong_output).unwrap()), (0, Fr::from(1u64))] {
        let mut public = claim.public.clone();
        public[i] = value;
        assert_ne!(public, claim.public);
        assert!(
            !snarkjs_verify(dir.path(), &vk, &snarkjs::public_to_json(&public), &proof_json),
            "snarkjs refuses public input {i} changed"
        );
    }
}
